/**
 * A request that reaches a kept-alive connection in time is answered even
 * when the api process is stalled past its keep-alive timeout before it reads
 * it (a loaded host deschedules it, a long GC, a paused VM): the stall is a
 * real SIGSTOP of a real api process, the client a raw TCP connection.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, expect, test } from 'vitest';
import { signToken } from '../src/auth/jwt.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { freePort } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';

// SIGKILL ends a process even while it is stopped
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KEEP_ALIVE_MS = 2000;
// Node closes an idle connection 1 s after the timeout it advertises; the stall outlasts both.
const STALL_MS = KEEP_ALIVE_MS + 2000;

/** One kept-alive connection; `send()` writes a PUT of a recipient and `answer()` waits for its status line. */
async function keepAlive(port: number, token: string) {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let received = '';
  let closed = '';
  let onAnswer: (() => void) | undefined;
  socket.on('data', (d) => {
    received += d.toString('latin1');
    if (onAnswer && /\r\n\r\n/.test(received)) {
      onAnswer();
      onAnswer = undefined;
    }
  });
  socket.on('error', (err) => (closed ||= `error ${(err as NodeJS.ErrnoException).code}`));
  socket.on('close', () => (closed ||= 'closed'));
  return {
    send(userId: string) {
      received = '';
      const body = JSON.stringify({ email: `${userId}@example.com` });
      socket.write(
        `PUT /api/v1/recipients/${userId} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n` +
          `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    },
    /** `then` runs the moment the answer arrives, while the api is still finishing that response */
    async answer(then?: () => void): Promise<string> {
      onAnswer = then;
      await waitFor(() => /\r\n\r\n/.test(received) || closed, 15_000, 'an answer or the connection closing');
      return /\r\n\r\n/.test(received) ? received.split('\r\n')[0] : `no answer (connection ${closed})`;
    },
    destroy: () => socket.destroy(),
  };
}

test('a request sent just before the api stalls past its keep-alive timeout is answered, not dropped', { timeout: 90_000 }, async () => {
  const port = await freePort();
  const api = spawnRole('src/api/server.ts', { env: { PORT: String(port), HTTP_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS) } }, cleanups);
  await api.waitForLog((l) => l.msg === 'api listening', 30_000, 'the api to listen');

  const token = await signToken(TEST_JWT_SECRET, { sub: 'stall-svc', tenant: uniq('tenant-stall'), scope: 'notify:send' });
  const answers: string[] = [];
  for (let round = 0; round < 3; round++) {
    const conn = await keepAlive(port, token);
    conn.send(`r${round}-a`);
    // The api is stopped the moment it has answered, and the next request reaches the connection at once, in time.
    answers.push(await conn.answer(() => api.child.kill('SIGSTOP')));
    conn.send(`r${round}-b`);
    await sleep(STALL_MS);
    api.child.kill('SIGCONT');
    answers.push(await conn.answer());
    conn.destroy();
  }
  expect(answers).toEqual(Array(6).fill('HTTP/1.1 200 OK'));
});
