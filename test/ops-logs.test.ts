/** pino: JSON lines carrying the ids that matter, secrets redacted, pretty when asked, flushed at shutdown. */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createApp } from '../src/api/app.js';
import { createLogger } from '../src/logger.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { freePort } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h.close());

function capture(level = 'debug') {
  const lines: Array<Record<string, any>> = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, logger: createLogger({ LOG_LEVEL: level as 'debug', PRETTY_LOGS: false }, 'test', dest) };
}

test('tokens, credentials and secret settings are redacted wherever they appear', () => {
  const { lines, logger } = capture();
  logger.info(
    {
      token: 'tok-1',
      headers: { authorization: 'Bearer abc.def.ghi', cookie: 'herald_admin=abc' },
      req: { headers: { authorization: 'Bearer x' } },
      config: { JWT_SECRET: 'jwt-secret', SMTP_PASSWORD: 'smtp-pass', FEISHU_APP_SECRET: 'fs', FCM_PRIVATE_KEY: '-----BEGIN', DATABASE_URL: 'postgres://u:pw@h/db' },
      auth: { user: 'mailer', pass: 'smtp-pass' },
      body: { password: 'hunter2', access_token: 'wecom-token' },
      tenant_access_token: 'feishu-token',
    },
    'with secrets',
  );
  const text = JSON.stringify(lines);
  for (const secret of ['tok-1', 'abc.def.ghi', 'herald_admin=abc', 'jwt-secret', 'smtp-pass', 'hunter2', 'wecom-token', 'feishu-token', '-----BEGIN', 'u:pw@']) {
    expect(text).not.toContain(secret);
  }
  expect(lines[0].headers.authorization).toBe('[redacted]');
  expect(lines[0].auth.user).toBe('mailer');
  expect(lines[0].msg).toBe('with secrets');
});

test('each request is logged as one JSON line with its request id, tenant and subject, and never the token', async () => {
  const { lines, logger } = capture();
  const app = createApp({ ...h.deps, logger });
  const sub = uniq('reader');
  const token = await h.token({ sub });
  const res = await app.request('/api/v1/notifications/unread-count', { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-ops-1' } });
  expect(res.status).toBe(200);
  expect(res.headers.get('x-request-id')).toBe('req-ops-1');
  const line = lines.find((l) => l.msg === 'request');
  expect(line).toMatchObject({ requestId: 'req-ops-1', tenant: h.tenant, sub, method: 'GET', path: '/api/v1/notifications/unread-count', status: 200, role: 'test' });
  expect(JSON.stringify(lines)).not.toContain(token);
});

test('PRETTY_LOGS prints readable lines, and the last lines are flushed when the process stops', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const api = spawnRole('src/api/server.ts', { env: { PORT: String(port), PRETTY_LOGS: 'true' } }, h.life);
  await waitFor(() => api.lines.some((l) => l.includes('api listening')), 30_000, 'the api to listen');
  const line = api.lines.find((l) => l.includes('api listening'))!;
  expect(() => JSON.parse(line)).toThrow(); // not JSON: pino-pretty formatted it
  expect(line).toMatch(/INFO/);
  expect(await api.stop('SIGTERM')).toBe(0);
  expect(api.lines.some((l) => l.includes('shutting down'))).toBe(true);
});
