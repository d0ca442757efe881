/**
 * What a PostgreSQL failure says about its cause, for the api to answer
 * it rightly: `unavailable` (the database cannot be reached or will not
 * take connections now: 503, retry later), `bad-input` (PostgreSQL refused
 * a value the request carried: 400, never "database unavailable"), or null
 * (anything else: a bug, answered 500).
 */
export type PgErrorKind = 'unavailable' | 'bad-input';

interface PgErrorShape {
  code?: unknown;
  severity?: unknown;
  message?: unknown;
  errors?: unknown;
}

/** Socket-level failures to reach the server (Node's codes). */
const SOCKET = /^(ECONNREFUSED|ECONNRESET|ECONNABORTED|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE)$/;

/** Failures of the pool or the connection itself, which carry no code. */
const CONNECTION_MESSAGE =
  /Connection terminated|Connection ended unexpectedly|timeout exceeded when trying to connect|Timeout acquiring a connection|is not queryable|Unable to acquire a connection/i;

/**
 * SQLSTATEs saying the server will not serve this connection now:
 * 08 connection exception (08P01 as an ERROR is below), 28 authorization refused,
 * 3D000 database missing, 53 insufficient resources (too many connections,
 * disk full, out of memory), 57P01–57P05 shutdown, crash, starting up, idle
 * session timeout, and 55000 when the database does not allow connections.
 */
function unavailableCode(code: string, message: string): boolean {
  if (/^(08|28|53)/.test(code)) return true;
  if (code === '3D000' || /^57P0[1-5]$/.test(code)) return true;
  return code === '55000' && /not currently accepting connections/i.test(message);
}

/**
 * SQLSTATEs saying a value was refused: 22 data exception (NUL in jsonb,
 * invalid UTF-8, a number or time out of range, bad text for a type),
 * 54 program limit exceeded (a jsonb nested too deep, an index row too
 * large), and 08P01 protocol violation as an ERROR, which is what
 * PostgreSQL answers when the statement text holds a NUL character
 * (em.execute writes parameters into the text; the session survives).
 */
const BAD_INPUT = (code: string, severity: unknown) =>
  code.startsWith('22') || code.startsWith('54') || (code === '08P01' && severity === 'ERROR');

export function pgErrorKind(err: unknown): PgErrorKind | null {
  const e = (err ?? {}) as PgErrorShape;
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (BAD_INPUT(code, e.severity)) return 'bad-input';
  // FATAL and PANIC end the session: never the answer to a value in a query
  if (e.severity === 'FATAL' || e.severity === 'PANIC') return 'unavailable';
  if (SOCKET.test(code) || unavailableCode(code, message) || CONNECTION_MESSAGE.test(message)) return 'unavailable';
  // Node's happy-eyeballs connect (IPv6 and IPv4 both refused) reports an AggregateError of socket errors
  if (Array.isArray(e.errors) && e.errors.length && e.errors.every((x) => pgErrorKind(x) === 'unavailable')) return 'unavailable';
  return null;
}
