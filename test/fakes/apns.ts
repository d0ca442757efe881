import { createPublicKey, generateKeyPairSync, randomUUID, verify, type KeyObject } from 'node:crypto';
import { createServer, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { gate } from './http-fake.js';

/** A fresh APNs auth key for a test: the .p8 (PKCS#8 PEM, P-256) Apple hands out, and its public half for the fake. */
export function makeApnsKey(keyId = 'ABC123DEFG', teamId = 'DEF123GHIJ') {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    keyId,
    teamId,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** A provider token as the fake read it. */
export interface ApnsJwt {
  token: string;
  kid: string;
  iss: string;
  iat: number;
}

/** One request to /3/device/<token>, whatever the answer. */
export interface ApnsRequest {
  device: string;
  headers: IncomingHttpHeaders;
  jwt: ApnsJwt | null;
  payload: any;
  status: number;
  reason?: string;
}

/** What the fake can be told to answer the next sends with (each takes one; then the real answer). */
export type ApnsOutcome =
  | { status: 429; reason: 'TooManyRequests'; retryAfterS?: number }
  | { status: 503; reason: 'ServiceUnavailable' | 'Shutdown'; retryAfterS?: number }
  | { status: 500; reason: 'InternalServerError' }
  | { status: 403; reason: 'ExpiredProviderToken' | 'InvalidProviderToken' }
  | { status: 400; reason: 'BadDeviceToken' | 'DeviceTokenNotForTopic' | 'BadTopic' }
  | 'hold';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TOKEN_MAX_AGE_S = 3600;
const TOKEN_MIN_UPDATE_S = 20 * 60;

/**
 * A fake of APNs' provider API over cleartext HTTP/2 (h2c), answering as
 * Apple documents: token authentication (ES256 JWT signed by the team's key,
 * kid = key id, iss = team id, iat at most an hour old; a connection that
 * changes its token more often than every 20 minutes gets 429
 * TooManyProviderTokenUpdates, unless the fake refused the one before), the request headers (apns-topic = the
 * bundle id, apns-push-type, apns-priority 5 or 10, apns-id a lowercase
 * UUID, apns-collapse-id ≤ 64 bytes, apns-expiration an integer), a payload
 * of at most 4 KiB; 410 Unregistered for tokens of uninstalled apps, 400
 * BadDeviceToken for tokens it never issued. `shown` is what each device
 * displays: notifications with the same collapse id replace each other.
 */
export async function startApnsFake(opts: {
  key: { keyId: string; teamId: string; publicKeyPem: string };
  bundleId: string;
  devices?: string[];
  unregistered?: string[];
  /** the fake's clock in ms (default Date.now): provider tokens are aged by it */
  now?: () => number;
}) {
  const publicKey: KeyObject = createPublicKey(opts.key.publicKeyPem);
  const now = opts.now ?? Date.now;
  const devices = new Set(opts.devices ?? []);
  const unregistered = new Set(opts.unregistered ?? []);
  const requests: ApnsRequest[] = [];
  const accepted: ApnsRequest[] = [];
  const shown = new Map<string, Map<string, any>>();
  const script: ApnsOutcome[] = [];
  const onSend: Array<(r: ApnsRequest) => void> = [];
  const lastToken = new WeakMap<Http2Session, ApnsJwt>();
  let held: ReturnType<typeof gate> | null = null;
  let sessions = 0;

  /** Reads and verifies a provider token; a reason string when Apple would refuse it. */
  function readJwt(auth: string | undefined): ApnsJwt | { reason: string } {
    const m = /^bearer (.+)$/.exec(auth ?? '');
    if (!m) return { reason: 'MissingProviderToken' };
    const [h, c, s] = m[1].split('.');
    if (!h || !c || !s) return { reason: 'InvalidProviderToken' };
    let header: any;
    let claims: any;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString());
      claims = JSON.parse(Buffer.from(c, 'base64url').toString());
    } catch {
      return { reason: 'InvalidProviderToken' };
    }
    const signature = Buffer.from(s, 'base64url');
    // JWS ES256: the raw 64-byte r||s, checked with the team key's public half
    if (header.alg !== 'ES256' || signature.length !== 64) return { reason: 'InvalidProviderToken' };
    if (!verify('sha256', Buffer.from(`${h}.${c}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)) return { reason: 'InvalidProviderToken' };
    if (header.kid !== opts.key.keyId || claims.iss !== opts.key.teamId || !Number.isInteger(claims.iat)) return { reason: 'InvalidProviderToken' };
    const age = now() / 1000 - claims.iat;
    if (age > TOKEN_MAX_AGE_S) return { reason: 'ExpiredProviderToken' };
    if (age < -60) return { reason: 'InvalidProviderToken' };
    return { token: m[1], kid: header.kid, iss: claims.iss, iat: claims.iat };
  }

  function check(session: Http2Session, headers: IncomingHttpHeaders, body: string): { status: number; reason: string; jwt: ApnsJwt | null; payload: any; device: string } | { jwt: ApnsJwt; payload: any; device: string } {
    const path = /^\/3\/device\/([^/?]+)$/.exec(String(headers[':path']));
    const device = path ? decodeURIComponent(path[1]) : '';
    let payload: any = null;
    try {
      payload = JSON.parse(body);
    } catch {
      /* answered below */
    }
    const fail = (status: number, reason: string, jwt: ApnsJwt | null = null) => ({ status, reason, jwt, payload, device });
    if (headers[':method'] !== 'POST') return fail(405, 'MethodNotAllowed');
    if (!path) return fail(404, 'BadPath');
    const jwt = readJwt(headers.authorization as string | undefined);
    if ('reason' in jwt) {
      lastToken.delete(session);
      return fail(403, jwt.reason);
    }
    const before = lastToken.get(session);
    if (before && before.token !== jwt.token && jwt.iat - before.iat < TOKEN_MIN_UPDATE_S) return fail(429, 'TooManyProviderTokenUpdates', jwt);
    lastToken.set(session, jwt);
    if (!headers['apns-topic']) return fail(400, 'MissingTopic', jwt);
    if (headers['apns-topic'] !== opts.bundleId) return fail(400, 'TopicDisallowed', jwt);
    if (headers['apns-push-type'] !== 'alert') return fail(400, 'InvalidPushType', jwt);
    if (!['5', '10'].includes(String(headers['apns-priority'] ?? '10'))) return fail(400, 'BadPriority', jwt);
    if (headers['apns-id'] !== undefined && !UUID.test(String(headers['apns-id']))) return fail(400, 'BadMessageId', jwt);
    if (headers['apns-collapse-id'] !== undefined && Buffer.byteLength(String(headers['apns-collapse-id'])) > 64) return fail(400, 'BadCollapseId', jwt);
    if (headers['apns-expiration'] !== undefined && !/^\d+$/.test(String(headers['apns-expiration']))) return fail(400, 'BadExpirationDate', jwt);
    if (Buffer.byteLength(body) > 4096) return fail(413, 'PayloadTooLarge', jwt);
    if (!payload?.aps) return fail(400, 'PayloadEmpty', jwt);
    if (unregistered.has(device)) return fail(410, 'Unregistered', jwt);
    if (!devices.has(device)) return fail(400, 'BadDeviceToken', jwt);
    return { jwt, payload, device };
  }

  const server: Http2Server = createServer();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (body += c));
    stream.on('error', () => undefined);
    stream.on('end', async () => {
      const apnsId = String(headers['apns-id'] ?? randomUUID());
      const answer = (status: number, reason?: string, extra: Record<string, string> = {}) => {
        if (stream.destroyed || stream.closed) return;
        stream.respond({ ':status': status, 'apns-id': apnsId, ...(reason ? { 'content-type': 'application/json' } : {}), ...extra });
        stream.end(reason ? JSON.stringify(status === 410 ? { reason, timestamp: now() } : { reason }) : undefined);
      };
      const checked = check(stream.session!, headers, body);
      const request: ApnsRequest = { device: checked.device, headers, jwt: checked.jwt, payload: checked.payload, status: 200 };
      requests.push(request);
      if ('status' in checked) {
        request.status = checked.status;
        request.reason = checked.reason;
        return answer(checked.status, checked.reason);
      }
      const outcome = script.shift();
      if (outcome && outcome !== 'hold') {
        // a refused provider token must be replaced: its successor does not count as a too-early update
        if (outcome.status === 403) lastToken.delete(stream.session!);
        request.status = outcome.status;
        request.reason = outcome.reason;
        const retry: Record<string, string> = 'retryAfterS' in outcome && outcome.retryAfterS !== undefined ? { 'retry-after': String(outcome.retryAfterS) } : {};
        return answer(outcome.status, outcome.reason, retry);
      }
      // accepted: the device shows it, replacing one it shows under the same collapse id
      accepted.push(request);
      const screen = shown.get(checked.device) ?? new Map<string, any>();
      screen.set(String(headers['apns-collapse-id'] ?? apnsId), checked.payload);
      shown.set(checked.device, screen);
      onSend.forEach((f) => f(request));
      if (outcome === 'hold' && held) await held.promise;
      answer(200);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const open = new Set<Http2Session>();
  server.on('session', (s: Http2Session) => {
    sessions++;
    open.add(s);
    s.on('close', () => open.delete(s));
  });

  return {
    url: `http://127.0.0.1:${port}`,
    /** every request, in arrival order */
    requests,
    /** the requests answered 200 */
    accepted,
    /** per device, what it displays, keyed by collapse id */
    shown,
    script,
    onSend,
    devices,
    unregistered,
    /** HTTP/2 connections opened so far */
    get sessions() {
      return sessions;
    },
    /** the next send is accepted (and shown) at once but answered only when the gate opens */
    hold() {
      held = gate();
      script.push('hold');
      return held;
    },
    /** GOAWAY on every open connection, as APNs does before it closes one */
    goaway() {
      for (const s of open) s.close();
    },
    async close() {
      held?.open();
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
