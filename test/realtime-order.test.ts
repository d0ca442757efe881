import { afterAll, beforeAll, expect, test } from 'vitest';
import { publishEvents } from '../src/feed/publish.js';
import { CursorOrder } from '../src/realtime/order.js';
import { createHarness, uniq, type Harness } from './helpers/harness.js';
import { connect, startNode } from './helpers/ws-node.js';

/**
 * Frames in cursor order even when publishers race: each ingest process
 * publishes after its own commit, so a later batch can reach Redis first.
 * On one Redis the publish itself waits for the tenant's stretches before
 * it (src/feed/in-order.ts); on a Redis Cluster the node puts a tenant's
 * frames back in order by the cursor chain told on the tenant's order
 * channel (CursorOrder, tested alone below; on a cluster in
 * redis-cluster.test.ts).
 */
let h: Harness;
let node: Awaited<ReturnType<typeof startNode>>;
const WAIT_MS = 400;
const rawTenant = uniq('raw');
/** stretches the publisher passed over after waiting for them */
const late: number[] = [];

beforeAll(async () => {
  h = await createHarness();
  node = await startNode(h, { reorderWaitMs: WAIT_MS });
});
afterAll(() => h?.close());

/** Publishes one notification, as dispatchStored would, in a tenant of made-up cursors. */
const publish = (user: string, cursor: number, prev: number | null, tenant = rawTenant) =>
  publishEvents(
    h.redis,
    h.prefix,
    [
    {
      tenant,
      audience: `u:${user}`,
      cursor: String(cursor),
      prev: prev == null ? null : String(prev),
      frame: { event: 'notification', id: `n${cursor}`, cursor: String(cursor) },
    },
    ],
    { orderWaitMs: WAIT_MS, onLate: (n) => late.push(n) },
  );

test('a frame published before the one it follows waits for it; then both arrive in cursor order', async () => {
  const user = uniq('u');
  const c = await connect(`${node.url()}?token=${await h.token({ sub: user, tenant: rawTenant })}`);
  const base = 9_000_000_000 + Math.floor(Math.random() * 1e6) * 100;
  await publish(user, base, base - 1);
  await c.until(() => c.events().length === 1);
  // 30 and 40 race ahead of 20; another tenant's frames are not held by this tenant's gap
  await publish(user, base + 30, base + 20);
  await publish(user, base + 40, base + 30);
  const other = uniq('tenant');
  const otherClient = await connect(`${node.url()}?token=${await h.token({ sub: user, tenant: other })}`);
  await publish(user, 1, 0, other);
  await otherClient.until(() => otherClient.events().length === 1);
  expect(c.events()).toHaveLength(1);
  await publish(user, base + 20, base);
  await c.until(() => c.events().length === 4);
  expect(c.events().map((f) => Number(f.cursor) - base)).toEqual([0, 20, 30, 40]);
  c.close();
  otherClient.close();
});

test('a frame that never comes holds the ones after it for the order wait only; records without prev are never held', async () => {
  const user = uniq('u');
  const tenant = uniq('raw');
  const c = await connect(`${node.url()}?token=${await h.token({ sub: user, tenant })}`);
  const base = 9_100_000_000 + Math.floor(Math.random() * 1e6) * 100;
  await publish(user, base, base - 1, tenant);
  await c.until(() => c.events().length === 1);
  late.length = 0;
  const sent = Date.now();
  await publish(user, base + 20, base + 10, tenant); // base + 10 is never published (its process died)
  await publish(user, base + 30, base + 20, tenant);
  // a retried job's republish carries no prev: it goes out at once
  await publish(user, base + 5, null, tenant);
  await c.until(() => c.events().length === 2);
  expect(c.events()[1].cursor).toBe(String(base + 5));
  await c.until(() => c.events().length === 4, 5000);
  expect(Date.now() - sent).toBeGreaterThanOrEqual(WAIT_MS - 50);
  expect(c.events().map((f) => Number(f.cursor) - base)).toEqual([0, 5, 20, 30]);
  expect(late).toEqual([1]); // one stretch (base + 10) passed over
  // the chain goes on from the last frame sent
  await publish(user, base + 40, base + 30, tenant);
  await c.until(() => c.events().length === 5);
  c.close();
});

test('racing ingest processes: a live socket sees every notification once, in cursor order', async () => {
  // two ingest workers, each batching concurrent jobs: batches commit in cursor order but publish in any order
  await h.startIngest({ concurrency: 20 });
  await h.startIngest({ concurrency: 20 });
  const user = uniq('u');
  const role = uniq('role');
  const c = await connect(`${node.url()}?token=${await h.token({ sub: user, roles: [role] })}`);
  const svc = await h.serviceToken();
  // a steady stream, so several batches are between commit and publish at any moment (without the
  // node's reordering this run sees a few frames out of order on the raw feed, 1–3 per 1,000 here)
  const sending: Array<Promise<{ body: any }>> = [];
  for (let i = 0; i < 1200; i++) {
    sending.push(h.request('POST', '/api/v1/notifications', { token: svc, body: { title: `n${i}`, content: 'c', ...(i % 2 ? { user_id: user } : { role }) } }));
    if (i % 5 === 4) await new Promise((r) => setTimeout(r, 1));
  }
  const ids = (await Promise.all(sending)).map((r) => r.body.id as string);
  await c.until(() => c.events().length >= ids.length, 20_000, 'every notification');
  const got = c.events();
  expect(got.map((f) => f.id).sort()).toEqual([...ids].sort());
  const cursors = got.map((f) => BigInt(f.cursor));
  expect(cursors.every((x, i) => i === 0 || x > cursors[i - 1])).toBe(true);
  c.close();
});

test('frames held past maxHeld go out at once, in cursor order (memory stays bounded when a frame is lost)', () => {
  const out: string[] = [];
  const gaveUp: number[] = [];
  const order = new CursorOrder<string>((x) => out.push(x), { waitMs: 60_000, maxHeld: 3, holds: () => true, onGiveUp: (n) => gaveUp.push(n) });
  const link = (prev: string, ...cursors: string[]) => order.chain('t', [{ prev, entries: cursors.map((cursor) => ({ cursor, hash: 'h' })) }]);
  link('5', '10');
  order.offer('t', '10', '10');
  // 20 is lost; 40, 30, 50 wait for it, and a fourth is one too many
  for (const seq of ['40', '30', '50']) {
    link(String(Number(seq) - 10), seq);
    order.offer('t', seq, seq);
  }
  expect(out).toEqual(['10']);
  order.offer('t', '60', '60');
  expect(out).toEqual(['10', '30', '40', '50', '60']);
  expect(gaveUp).toEqual([4]);
  // the chain goes on from there, and the lost frame, when it comes late, is not held
  link('60', '70');
  order.offer('t', '70', '70');
  order.offer('t', '20', '20');
  expect(out.slice(-2)).toEqual(['70', '20']);
  order.close();
});

test('the chain passes over cursors of topics the node does not receive, and waits for those it does, whatever comes first', () => {
  const out: string[] = [];
  const mine = new Set(['a', 'b']);
  const order = new CursorOrder<string>((x) => out.push(x), { waitMs: 60_000, holds: (h) => mine.has(h) });
  // a batch 11..15 of which this node receives 12 (topic a) and 14 (topic b); 14 comes first (another shard)
  order.offer('t', '14', '14');
  expect(out).toEqual([]);
  order.chain('t', [{ prev: '10', entries: [11, 12, 13, 14, 15].map((c) => ({ cursor: String(c), hash: c === 12 ? 'a' : c === 14 ? 'b' : 'x' })) }]);
  expect(out).toEqual([]);
  order.offer('t', '12', '12');
  expect(out).toEqual(['12', '14']);
  // the next batch's order record comes after its frame: the frame waits for it
  order.offer('t', '17', '17');
  expect(out).toEqual(['12', '14']);
  order.chain('t', [{ prev: '15', entries: [{ cursor: '16', hash: 'x' }, { cursor: '17', hash: 'a' }] }]);
  expect(out).toEqual(['12', '14', '17']);
  // a cursor waited for whose topic the node lets go is no longer waited for
  order.chain('t', [{ prev: '17', entries: [{ cursor: '18', hash: 'b' }, { cursor: '19', hash: 'a' }] }]);
  order.offer('t', '19', '19');
  expect(out).toEqual(['12', '14', '17']);
  mine.delete('b');
  order.recheck();
  expect(out).toEqual(['12', '14', '17', '19']);
  order.close();
});

test("a tenant's chain starts at its head read on subscribing: the first batches are ordered even when a later one comes first", () => {
  const out: string[] = [];
  const order = new CursorOrder<string>((x) => out.push(x), { waitMs: 60_000, holds: () => true });
  order.expect('t');
  // the second batch (3..4) reaches the node before the first (1..2), and before the head is read
  order.chain('t', [{ prev: '2', entries: ['3', '4'].map((cursor) => ({ cursor, hash: 'h' })) }]);
  order.offer('t', '3', '3');
  order.offer('t', '4', '4');
  order.start('t', '0');
  expect(out).toEqual([]);
  order.chain('t', [{ prev: '0', entries: ['1', '2'].map((cursor) => ({ cursor, hash: 'h' })) }]);
  order.offer('t', '2', '2');
  order.offer('t', '1', '1');
  expect(out).toEqual(['1', '2', '3', '4']);
  order.close();
});
