/**
 * A realtime process on two threads stops cleanly on SIGTERM even while a
 * plain HTTP keep-alive connection (a load balancer's health checks) and a
 * socket that never answers the 1001 close frame are still open: a worker
 * thread that ends with a uWS socket open aborts the whole process.
 */
import { connect as tcp } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createHarness, uniq, type Harness } from './helpers/harness.js';
import { freePort } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';
import { connect } from './helpers/ws-node.js';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.close());

test('SIGTERM with a keep-alive HTTP connection and a mute socket open: every thread closes, exit code 0', async () => {
  const wsPort = await freePort();
  const proc = spawnRole('src/realtime/server.ts', { harness: h, env: { WS_PORT: String(wsPort), WS_THREADS: '2' } }, h.life);
  await proc.waitForLog((l) => l.msg === 'realtime threads listening', 60_000, 'both threads');
  // a health check over a connection kept alive, on each thread (the kernel spreads connections)
  const checks = await Promise.all(
    Array.from({ length: 6 }, () =>
      new Promise<ReturnType<typeof tcp>>((resolve) => {
        const s = tcp(wsPort, '127.0.0.1', () => s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
        s.once('data', () => resolve(s));
        s.on('error', () => undefined);
      }),
    ),
  );
  const mute = await connect(`ws://127.0.0.1:${wsPort}/api/v1/ws?token=${await h.token({ sub: uniq('u') })}`);
  (mute.ws as any)._socket.pause();
  proc.child.kill('SIGTERM');
  expect(await proc.exited).toBe(0);
  expect(proc.lines.join('\n')).not.toMatch(/open handles/);
  for (const s of checks) s.destroy();
}, 60_000);
