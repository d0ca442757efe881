import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { producerConnection, whenReady } from '../queues/connection.js';
import { UpgradeLimit } from '../src/realtime/upgrade-limit.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { connect, refusedUpgrade, startNode } from './helpers/ws-node.js';

/**
 * WebSocket upgrades per minute, per token subject and per client address
 * (WS_UPGRADE_USER_PER_MIN, WS_UPGRADE_IP_PER_MIN), counted in Redis for
 * every node: past the limit an upgrade is answered 429 problem+json with
 * Retry-After and no socket opens.
 */
let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.close());

const retryAfter = (headers: Record<string, string | string[] | undefined>) => Number(headers['retry-after']);

test('past its upgrades per minute a user is refused with 429 and Retry-After, on the other node too; other users are not', async () => {
  const one = await startNode(h, { upgradeUserPerMin: 3, upgradeIpPerMin: 0 });
  const two = await startNode(h, { upgradeUserPerMin: 3, upgradeIpPerMin: 0 });
  const user = uniq('u');
  const token = await h.token({ sub: user });
  for (let i = 0; i < 3; i++) (await connect(`${one.url()}?token=${token}`)).close();

  const refused = await refusedUpgrade(`${two.url()}?token=${token}`);
  expect(refused.status).toBe(429);
  expect(refused.headers['content-type']).toBe('application/problem+json');
  expect(refused.body).toMatchObject({ status: 429, title: 'Too Many Requests' });
  expect(refused.body.detail).toMatch(/user/);
  // one upgrade every 20 s refills the bucket: the next is due within that
  expect(retryAfter(refused.headers)).toBeGreaterThanOrEqual(1);
  expect(retryAfter(refused.headers)).toBeLessThanOrEqual(20);
  expect((await refusedUpgrade(`${one.url()}?token=${token}`)).status).toBe(429);

  const other = await connect(`${two.url()}?token=${await h.token({ sub: uniq('u') })}`);
  expect(other.closed).toBeNull();
  other.close();
});

test('one user opening many sockets at once: as many as the limit open, the rest are refused with 429 at once', async () => {
  const node = await startNode(h, { upgradeUserPerMin: 3, upgradeIpPerMin: 0, maxConnectionsPerUser: 10 });
  const url = `${node.url()}?token=${await h.token({ sub: uniq('u') })}`;
  const outcomes = await Promise.all(
    Array.from({ length: 10 }, () =>
      connect(url).then(
        (c) => (c.close(), 'open'),
        (err: Error) => err.message,
      ),
    ),
  );
  expect(outcomes.filter((o) => o === 'open')).toHaveLength(3);
  expect(outcomes.filter((o) => o !== 'open')).toEqual(Array(7).fill('upgrade refused: 429'));
});

test('past its upgrades per minute an address is refused with 429 before its token is even read', async () => {
  const node = await startNode(h, { upgradeIpPerMin: 3, upgradeUserPerMin: 0 });
  for (let i = 0; i < 3; i++) (await connect(`${node.url()}?token=${await h.token({ sub: uniq('u') })}`)).close();

  const refused = await refusedUpgrade(`${node.url()}?token=${await h.token({ sub: uniq('u') })}`);
  expect(refused.status).toBe(429);
  expect(refused.body.detail).toMatch(/address/);
  expect(retryAfter(refused.headers)).toBeGreaterThanOrEqual(1);
  // a bad token gets the same answer, not 401: the address is judged first
  expect((await refusedUpgrade(`${node.url()}?token=not-a-token`)).status).toBe(429);
});

test('with its Redis unreachable a node lets upgrades through (fail open), counting only its own', async () => {
  const proxy = await startTcpProxy('127.0.0.1', Number(new URL(h.config.REDIS_URL).port || 6379));
  const redis = producerConnection(`redis://127.0.0.1:${proxy.port}`);
  redis.on('error', () => undefined);
  await whenReady(redis);
  const node = await startNode(h, { upgradeUserPerMin: 2, upgradeIpPerMin: 0 }, { redis });
  await proxy.close();
  await waitFor(() => redis.status !== 'ready', 10_000, 'the node to lose Redis');
  try {
    const token = await h.token({ sub: uniq('u') });
    const first = await connect(`${node.url()}?token=${token}`);
    const second = await connect(`${node.url()}?token=${token}`);
    expect(first.closed).toBeNull();
    expect(second.closed).toBeNull();
    // what this node counted itself still holds
    expect((await refusedUpgrade(`${node.url()}?token=${token}`)).status).toBe(429);
    first.close();
    second.close();
  } finally {
    redis.disconnect();
  }
});

test('a node lets an upgrade through on its own count; Redis settles it against what other nodes took', async () => {
  const key = `${h.prefix}:ratelimit:test:${uniq('k')}`;
  const a = new UpgradeLimit(h.redis, { limit: 3 });
  const seen: string[] = [];
  const b = new UpgradeLimit(h.redis, { limit: 3, onUsedUp: (used) => seen.push(...used.map((u) => u.key)) });
  const taken = [a.attempt(key), a.attempt(key), a.attempt(key)];
  await a.flush();
  expect(taken.map((t) => t.allowed)).toEqual([true, true, true]);
  // b has not seen the key: it lets the attempt through, and Redis refuses it
  const late = b.attempt(key);
  expect(late.allowed).toBe(true);
  await b.flush();
  expect(late.allowed).toBe(false);
  expect(late.retryAfterMs).toBeGreaterThan(0);
  expect(seen).toEqual([key]);
  // from now on b refuses at once
  expect(b.attempt(key).allowed).toBe(false);
});

test('an upgrade let through by a node that had not heard of the key, and refused by Redis, is closed with 4029 before its welcome', async () => {
  const node = await startNode(h, { upgradeUserPerMin: 2, upgradeIpPerMin: 0 });
  const user = uniq('u');
  // another node (here: the same buckets, taken straight from Redis) used the user's upgrades
  const other = new UpgradeLimit(h.redis, { limit: 2 });
  other.attempt(`${h.prefix}:ratelimit:ws:user:${h.tenant}\u001f${user}`);
  other.attempt(`${h.prefix}:ratelimit:ws:user:${h.tenant}\u001f${user}`);
  await other.flush();
  const ws = await import('ws');
  const socket = new ws.default(`${node.url()}?token=${await h.token({ sub: user })}`);
  const frames: string[] = [];
  socket.on('message', (d) => frames.push(String(d)));
  const closed = await new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  expect(closed.code).toBe(4029);
  expect(closed.reason).toMatch(/retry in \d+ s/);
  expect(frames).toEqual([]);
});

test('the limits are shared by every node through Redis: separate connections, one bucket', async () => {
  const key = `${h.prefix}:ratelimit:test:${uniq('k')}`;
  const r1 = new Redis(h.config.REDIS_URL);
  const r2 = new Redis(h.config.REDIS_URL);
  try {
    const a = new UpgradeLimit(r1, { limit: 2 });
    const b = new UpgradeLimit(r2, { limit: 2 });
    const x = a.attempt(key);
    const y = b.attempt(key);
    await Promise.all([a.flush(), b.flush()]);
    const z = b.attempt(key);
    await b.flush();
    expect([x.allowed, y.allowed, z.allowed]).toEqual([true, true, false]);
  } finally {
    r1.disconnect();
    r2.disconnect();
  }
});
