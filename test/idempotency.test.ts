/**
 * An idempotency key claimed by a send whose enqueue then failed is given
 * back: the client's retry with the same key creates and stores the
 * notification, instead of being answered "replayed" with ids that were
 * never stored.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { producerConnection, whenReady } from '../queues/connection.js';
import { createProducers } from '../queues/producers.js';
import type { Principal } from '../src/auth/jwt.js';
import { acceptNotifications } from '../src/domain/sending/accept.js';
import { parseNotification, type NotificationInput } from '../src/domain/sending/input.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { freePort, startRedis } from './helpers/procs.js';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
});
afterAll(() => h?.close());

const input = (body: Record<string, unknown>): NotificationInput => {
  const parsed = parseNotification(body);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.value;
};

test('a send whose enqueue failed does not make its retry a replay', async () => {
  // the ingest queue lives on a Redis this test owns and stops; idempotency keys stay on the working one
  const port = await freePort();
  const queueRedis = await startRedis(port);
  h.life.add('own redis', () => queueRedis.stop('SIGKILL'));
  const conn = producerConnection(`redis://127.0.0.1:${port}`);
  conn.on('error', () => undefined);
  await whenReady(conn);
  const broken = createProducers(conn, h.prefix);
  h.life.add('broken producers', async () => {
    await broken.close().catch(() => undefined);
    conn.disconnect();
  });
  await queueRedis.stop('SIGKILL');
  await waitFor(() => conn.status !== 'ready', 5000, 'the queue connection to drop');

  const svc = await h.serviceToken();
  const sub = JSON.parse(Buffer.from(svc.split('.')[1], 'base64url').toString()).sub as string;
  const who: Principal = { sub, tenant: h.tenant, roles: [], stores: [], scopes: new Set(['notify:send']) };
  const user = uniq('user');
  const body = { title: 'invoice', content: 'paid', user_id: user, idempotency_key: uniq('key') };

  await expect(acceptNotifications({ redis: h.redis, queues: broken, prefix: h.prefix }, who, [input(body)])).rejects.toThrow();

  // the client retries once the api's queue works again: a new send, not a replay of one never stored
  const retry = await h.request('POST', '/api/v1/notifications', { token: svc, body });
  expect(retry.status).toBe(202);
  expect(retry.headers.get('idempotent-replayed')).toBeNull();
  const token = await h.token({ sub: user });
  const stored = await waitFor(async () => {
    const r = await h.request('GET', `/api/v1/notifications/${retry.body.id}`, { token });
    return r.status === 200 ? r.body : null;
  }, 10_000, 'the retried notification stored');
  expect(stored).toMatchObject({ id: retry.body.id, title: 'invoice' });

  // and from now on the key answers that stored notification
  const again = await h.request('POST', '/api/v1/notifications', { token: svc, body });
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.body.id).toBe(retry.body.id);
});
