/**
 * Keep-alive: the api keeps an idle connection open for
 * HTTP_KEEP_ALIVE_TIMEOUT_MS (65 s by default), longer than the idle timeout
 * of a load balancer or proxy pooling connections to it, so it is never the
 * side that closes first (a request sent onto a connection the api is
 * closing fails). Real api processes, a raw TCP client.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, expect, test } from 'vitest';
import { waitFor } from './helpers/harness.js';
import { freePort } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function startApi(extra: Record<string, string> = {}): Promise<number> {
  const port = await freePort();
  const api = spawnRole('src/api/server.ts', { env: { PORT: String(port), ...extra } }, cleanups);
  await api.waitForLog((l) => l.msg === 'api listening', 30_000, 'the api to listen');
  return port;
}

/** One keep-alive connection: `get()` sends GET /health on it and resolves with the status line. */
async function keepAlive(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let closedAt: number | null = null;
  socket.on('end', () => (closedAt = Date.now()));
  socket.on('close', () => (closedAt ??= Date.now()));
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (d) => (received += d.toString('latin1')));
  return {
    closedAt: () => closedAt,
    async get(): Promise<string> {
      received = '';
      socket.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n\r\n`);
      await waitFor(() => /\r\n\r\n/.test(received) || closedAt !== null, 10_000, 'an answer');
      return received.split('\r\n')[0] || 'no answer (connection closed)';
    },
    destroy: () => socket.destroy(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('an idle keep-alive connection outlives Node’s 5 s default, and HTTP_KEEP_ALIVE_TIMEOUT_MS sets when it closes', { timeout: 60_000 }, async () => {
  const [byDefault, short] = await Promise.all([startApi(), startApi({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '1500' })]);

  const a = await keepAlive(byDefault);
  const b = await keepAlive(short);
  expect(await a.get()).toBe('HTTP/1.1 200 OK');
  expect(await b.get()).toBe('HTTP/1.1 200 OK');
  const idleFrom = Date.now();

  // the short one is closed by the api after its 1.5 s, not at Node's 5 s
  await waitFor(() => b.closedAt(), 4500, 'the api to close the idle connection');
  expect(b.closedAt()).not.toBeNull();
  expect(b.closedAt()! - idleFrom).toBeGreaterThanOrEqual(1400);

  // the default one is still open after 6 s of idleness and answers on the same connection
  await sleep(Math.max(0, idleFrom + 6000 - Date.now()));
  expect(a.closedAt()).toBeNull();
  expect(await a.get()).toBe('HTTP/1.1 200 OK');
  a.destroy();
  b.destroy();
});
