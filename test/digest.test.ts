/**
 * Digests through the real roles: the ingest process (workers/ingest.ts)
 * plans deliveries and runs the digest windows, the webhook process
 * (workers/webhook.ts) sends, a realtime node pushes frames. A notification
 * sent with `digest` reaches the inbox and the sockets at once; its webhook
 * deliveries for one user and key wait for the window opened by the first
 * of them and go out as one call.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { DigestJob } from '../queues/jobs.js';
import { runDigest } from '../src/domain/digest/digest.js';
import { startWebhookReceiver } from './fakes/webhook-receiver.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import type { Proc } from './helpers/procs.js';
import { sumSeries } from './helpers/prom.js';
import { spawnRole } from './helpers/roles.js';
import { connect, startNode } from './helpers/ws-node.js';

const SECRET = 'digest-hook-secret';
const WINDOW_MS = 2000;
let h: Harness;
let svc: string;
let hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;
let node: Awaited<ReturnType<typeof startNode>>;
let ingest: Proc;

const spawnIngest = async () => {
  const proc = spawnRole(
    'workers/ingest.ts',
    { harness: h, env: { DIGEST_LOCK_MS: '1500', DIGEST_STALLED_INTERVAL_MS: '300', METRICS_PUSH_INTERVAL_MS: '200' } },
    h.life,
  );
  await proc.waitForLog((l) => l.msg === 'ingest worker started', 60_000, 'the ingest worker');
  return proc;
};

beforeAll(async () => {
  h = await createHarness();
  hooks = await startWebhookReceiver(SECRET);
  h.life.add('webhook receiver', () => hooks.close());
  h.life.add('queues', async () => {
    await h.deps.queues.delivery.webhook.obliterate({ force: true }).catch(() => undefined);
    await h.deps.queues.digest.obliterate({ force: true }).catch(() => undefined);
  });
  node = await startNode(h);
  const webhook = spawnRole('workers/webhook.ts', { harness: h, env: { WEBHOOK_SECRET: SECRET } }, h.life);
  [ingest] = await Promise.all([spawnIngest(), webhook.waitForLog((l) => l.msg === 'webhook worker started', 60_000, 'the webhook worker')]);
  svc = await h.serviceToken();
}, 90_000);
afterAll(() => h?.close());

interface SendOptions {
  key?: string;
  window?: string;
  priority?: string;
  token?: string;
}

/** One notification to `user` on the inbox and the webhook (each user has a receiver path of their own). */
async function send(user: string, title: string, opts: SendOptions = {}): Promise<string> {
  const r = await h.request('POST', '/api/v1/notifications', {
    token: opts.token ?? svc,
    body: {
      title,
      content: `${title}: details`,
      user_id: user,
      channels: ['app', 'webhook'],
      metadata: { webhook_url: `${hooks.url}/${user}` },
      ...(opts.priority ? { priority: opts.priority } : {}),
      ...(opts.key !== undefined ? { digest: { key: opts.key, window: opts.window ?? `${WINDOW_MS / 1000}s` } } : {}),
    },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.id as string;
}

/** Every call the receiver got for `user` (raw requests: a repeat of one delivery counts too), with when it came. */
const calls = (user: string) => hookLog.filter((c) => c.path === `/${user}`);
const hookLog: Array<{ path: string; at: number; body: any }> = [];
let seen = 0;
/** Moves the receiver's new requests into hookLog with the time the test saw them. */
const sweep = () => {
  if (!hooks) return;
  for (; seen < hooks.requests.length; seen++) {
    const r = hooks.requests[seen];
    hookLog.push({ path: r.path, at: Date.now(), body: JSON.parse(r.body) });
  }
};
const sweeper = setInterval(sweep, 10);
afterAll(() => clearInterval(sweeper));

const waitCalls = (user: string, n: number, timeoutMs = 10_000) => waitFor(() => calls(user).length >= n && calls(user), timeoutMs, `${n} webhook call(s) for ${user}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const deliveryOf = async (id: string) => {
  const r = await h.request('GET', `/api/v1/notifications/${id}/deliveries`, { token: svc });
  return r.body.deliveries?.find((d: any) => d.channel === 'webhook');
};

describe('a digest window', () => {
  test('10 notifications: inbox and sockets at once, one webhook call after the window listing all 10, counted', async () => {
    const user = uniq('dig');
    const ws = await connect(node.url(`/api/v1/ws?token=${await h.token({ sub: user })}`));
    h.life.add('socket', () => ws.ws.close());
    const titles = Array.from({ length: 10 }, (_, i) => `order ${i + 1} shipped`);
    const t0 = Date.now();
    const ids: string[] = [];
    for (const title of titles) ids.push(await send(user, title, { key: 'orders' }));

    // in the inbox and on the socket well before the window ends
    await ws.until(() => ws.events().length >= 10, 5000, '10 frames');
    const inbox = await h.request('GET', '/api/v1/notifications?limit=50', { token: await h.token({ sub: user }) });
    expect(inbox.body.total).toBe(10);
    expect(Date.now() - t0).toBeLessThan(WINDOW_MS);
    expect(calls(user)).toHaveLength(0);

    const [call] = await waitCalls(user, 1);
    expect(call.at - t0).toBeGreaterThanOrEqual(WINDOW_MS - 100);
    const n = call.body.notification;
    expect(n.title).toBe('You have 10 new notifications');
    for (const title of titles) expect(n.content).toContain(title);
    expect(n.metadata.digest).toMatchObject({ key: 'orders', count: 10 });
    expect(n.metadata.digest.notifications.map((x: any) => x.id).sort()).toEqual([...ids].sort());

    // nothing more comes; each member says where it went, and the combined delivery is the sender's to read
    await sleep(500);
    expect(calls(user)).toHaveLength(1);
    const member = await waitFor(async () => {
      const d = await deliveryOf(ids[3]);
      return d?.status === 'skipped' && d;
    }, 5000, 'the member skipped');
    expect(member).toMatchObject({ status: 'skipped', reason: 'digested' });
    expect(member.note).toContain(n.id);
    const combined = await waitFor(async () => {
      const d = await deliveryOf(n.id);
      return d?.status === 'sent' && d;
    }, 5000, 'the combined delivery sent');
    expect(combined).toMatchObject({ recipient: user, status: 'sent' });

    const metrics = () => h.request('GET', '/metrics').then((r) => String(r.body));
    await waitFor(
      async () => {
        const text = await metrics();
        return sumSeries(text, 'herald_digest_members_total', { channel: 'webhook' }) === 10 && sumSeries(text, 'herald_digest_sent_total', { channel: 'webhook' }) === 1;
      },
      5000,
      'the digest counters',
    );
  });

  test('the window is opened by the first event and not pushed back by later ones', async () => {
    const user = uniq('dig-ext');
    const t0 = Date.now();
    await send(user, 'first', { key: 'k' });
    await sleep(1200);
    await send(user, 'second', { key: 'k' });
    const [call] = await waitCalls(user, 1);
    // the second one's own window would end 3.2 s in
    expect(call.at - t0).toBeLessThan(WINDOW_MS + 900);
    expect(call.body.notification.metadata.digest.count).toBe(2);
    // an event after the window was sent opens the next one
    await send(user, 'third', { key: 'k' });
    const next = await waitCalls(user, 2);
    expect(next[1].body.notification.metadata.digest.notifications.map((x: any) => x.title)).toEqual(['third']);
  });

  test('urgent goes out at once, alone', async () => {
    const user = uniq('dig-urgent');
    const t0 = Date.now();
    await send(user, 'routine a', { key: 'k' });
    const urgent = await send(user, 'server on fire', { key: 'k', priority: 'urgent' });
    await send(user, 'routine b', { key: 'k' });
    const [first] = await waitCalls(user, 1);
    expect(first.at - t0).toBeLessThan(WINDOW_MS - 500);
    expect(first.body.notification).toMatchObject({ id: urgent, title: 'server on fire' });
    const [, digest] = await waitCalls(user, 2);
    expect(digest.body.notification.metadata.digest.notifications.map((x: any) => x.title)).toEqual(['routine a', 'routine b']);
    await sleep(300);
    expect(calls(user)).toHaveLength(2);
  });

  test('each key and each user has digests of its own', async () => {
    const ann = uniq('dig-ann');
    const bob = uniq('dig-bob');
    await send(ann, 'ann order', { key: 'orders' });
    await send(ann, 'ann stock', { key: 'stock' });
    await send(bob, 'bob order', { key: 'orders' });
    await send(ann, 'ann order 2', { key: 'orders' });
    const annCalls = await waitCalls(ann, 2);
    const bobCalls = await waitCalls(bob, 1);
    await sleep(300);
    expect(calls(ann)).toHaveLength(2);
    expect(calls(bob)).toHaveLength(1);
    const byKey = Object.fromEntries(annCalls.map((c) => [c.body.notification.metadata.digest.key, c.body.notification.metadata.digest.notifications.map((x: any) => x.title)]));
    expect(byKey).toEqual({ orders: ['ann order', 'ann order 2'], stock: ['ann stock'] });
    expect(bobCalls[0].body.notification.metadata.digest.notifications.map((x: any) => x.title)).toEqual(['bob order']);
  });

  test('a window run twice (and once more by its own job) sends once', async () => {
    const user = uniq('dig-twice');
    for (const t of ['x', 'y', 'z']) await send(user, t, { key: 'k' });
    // all three are in the window before it is run
    await waitFor(async () => (await h.orm.em.fork().execute(`select 1 from digest_members where user_id = ?`, [user])).length === 3, 5000, 'three members');
    const [bucket] = await h.orm.em.fork().execute<Array<{ window_start: Date }>>(`select window_start from digest_buckets where tenant = ? and user_id = ?`, [h.tenant, user]);
    const job: DigestJob = { tenant: h.tenant, user_id: user, channel: 'webhook', key: 'k', window_start: new Date(bucket.window_start).toISOString() };
    const deps = { orm: h.orm, queues: h.deps.queues, logger: h.deps.logger };
    const first = await runDigest(deps, job);
    const again = await runDigest(deps, job);
    expect(first.members).toBe(3);
    expect(again.members).toBe(0);
    await waitCalls(user, 1);
    // the window's own job runs when it ends and finds it done
    await sleep(WINDOW_MS + 800);
    expect(calls(user)).toHaveLength(1);
  });

  test('a tenant template named digest renders it', async () => {
    const tenant = uniq('tenant-tpl');
    const writer = await h.token({ sub: uniq('svc'), tenant, scope: 'notify:send templates:write' });
    const created = await h.request('POST', '/api/v1/notifications/templates', {
      token: writer,
      body: { name: 'digest', title: '{{count}} updates on {{key}}', content: '{% for n in notifications %}[{{n.title}}]{% endfor %}' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const user = uniq('dig-tpl');
    await send(user, 'one', { key: 'news', token: writer });
    await send(user, 'two', { key: 'news', token: writer });
    const [call] = await waitCalls(user, 1);
    expect(call.body.notification).toMatchObject({ title: '2 updates on news', content: '[one][two]' });
  });

  test('a send with a bad digest is refused, naming the field', async () => {
    const bad = async (digest: unknown) => {
      const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'c', user_id: 'u', digest } });
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      return { status: r.status, paths: (r.body.errors as Array<{ path: string }>).map((e) => e.path) };
    };
    expect(await bad({ key: '', window: '10m' })).toEqual({ status: 400, paths: ['digest.key'] });
    expect(await bad({ key: 'x'.repeat(101), window: '10m' })).toEqual({ status: 400, paths: ['digest.key'] });
    expect(await bad({ key: 'k', window: '25h' })).toEqual({ status: 400, paths: ['digest.window'] });
    expect(await bad({ key: 'k', window: '10 minutes' })).toEqual({ status: 400, paths: ['digest.window'] });
    expect(await bad({ key: 'k', window: '0s' })).toEqual({ status: 400, paths: ['digest.window'] });
    expect(await bad({ key: 'k' })).toEqual({ status: 400, paths: ['digest.window'] });
    expect(await bad({ key: 'k', window: '1h', every: 2 })).toEqual({ status: 400, paths: ['digest.every'] });
  });

  // last: it kills the ingest process
  test('an ingest process killed between claiming a window and enqueueing its message: the next one sends it, once', async () => {
    const user = uniq('dig-crash');
    const ids = [await send(user, 'p', { key: 'k' }), await send(user, 'q', { key: 'k' })];
    const [member] = await waitFor(
      async () => {
        const rows = await h.orm.em.fork().execute<Array<{ id: string }>>(`select delivery_id as id from digest_members where notification_id = ?`, [ids[1]]);
        return rows.length > 0 && rows;
      },
      5000,
      'the member',
    );
    // a lock on one member's record stops the digest right after its claim committed, before anything is enqueued
    await h.orm.em.fork().transactional(async (tem) => {
      await tem.execute(`select id from deliveries where id = ? for update`, [member.id]);
      await waitFor(
        async () => (await h.orm.em.fork().execute(`select 1 from digest_members where user_id = ? and digest_id is not null`, [user])).length === 2,
        10_000,
        'the window claimed',
      );
      await sleep(300);
      await ingest.stop('SIGKILL');
    });
    expect(calls(user)).toHaveLength(0);
    ingest = await spawnIngest();
    const [call] = await waitCalls(user, 1, 20_000);
    expect(call.body.notification.metadata.digest.notifications.map((x: any) => x.title)).toEqual(['p', 'q']);
    await sleep(1500);
    expect(calls(user)).toHaveLength(1);
    expect(await deliveryOf(ids[0])).toMatchObject({ status: 'skipped', reason: 'digested' });
  }, 60_000);
});
