/**
 * Herald on a Redis Cluster (3 primaries, 3 replicas, on loopback): the api,
 * the ingest worker, the realtime node, the scheduler and the webhook worker
 * all reach it through REDIS_URL=redis+cluster://…, with the ingest and
 * webhook queues split into 3 shards each. Sends, the inbox, the ?since=
 * replay, scheduled and recurring sends, the api's rate limit, deliveries
 * and a shared channel rate limit run on it; every script and transaction
 * Herald sends keeps its keys in one slot, or the cluster refuses it
 * (CROSSSLOT) and these fail. Then a primary is killed under load: its
 * replica takes over, and what was accepted and lost is counted.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import calculateSlot from 'cluster-key-slot';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseRedisUrl } from '../queues/redis-target.js';
import { shardNames, SINGLE_LAYOUT } from '../queues/shards.js';
import { signToken } from '../src/auth/jwt.js';
import { topicChannel } from '../src/feed/channels.js';
import { topicOf } from '../src/feed/topics.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { startWebhookReceiver } from './fakes/webhook-receiver.js';
import { TEST_DATABASE_URL, TEST_JWT_SECRET } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { freePort, type Proc } from './helpers/procs.js';
import { startRedisCluster, type RedisClusterUnderTest } from './helpers/redis-cluster.js';
import { spawnRole, startServingRoles } from './helpers/roles.js';
import { connect } from './helpers/ws-node.js';

const SECRET = 'cluster-webhook-secret';

describe('REDIS_URL for a cluster', () => {
  test('redis+cluster:// and REDIS_CLUSTER_NODES name the nodes; a database or both set is refused', () => {
    expect(parseRedisUrl('redis+cluster://u:p%40ss@10.0.0.1:7000,[::1]:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '::1', port: 7001 },
      ],
      options: { username: 'u', password: 'p@ss' },
    });
    expect(parseRedisUrl('rediss+cluster://h:7000')).toMatchObject({ kind: 'cluster', options: { tls: {} } });
    expect(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001' }).REDIS_URL).toBe('redis+cluster://127.0.0.1:7000,127.0.0.1:7001');
    for (const bad of ['redis+cluster://h:7000/0', 'redis+cluster://h']) expect(() => loadConfig({ REDIS_URL: bad }), bad).toThrow(/REDIS_URL/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'h' })).toThrow(/REDIS_CLUSTER_NODES/);
    expect(() => loadConfig({ REDIS_URL: 'redis://h:1', REDIS_CLUSTER_NODES: 'h:2' })).toThrow(ConfigError);
    expect(() => loadConfig({ WORKER_SHARDS: '0,x' })).toThrow(/WORKER_SHARDS/);
  });

  test("a queue's shards take hash tags in different thirds of the slots; on one Redis the first keeps its old name", () => {
    const three = { ...SINGLE_LAYOUT.shards, ingest: 3 };
    expect(shardNames({ cluster: false, shards: three }, 'ingest')).toEqual(['ingest', 'ingest-1', 'ingest-2']);
    const tagged = shardNames({ cluster: true, shards: three }, 'ingest');
    expect(tagged.every((n) => /^\{[^}]+\}$/.test(n))).toBe(true);
    expect(tagged.map((n) => Math.floor((calculateSlot(n) * 3) / 16384))).toEqual([0, 1, 2]);
  });
});

describe('on a Redis Cluster', () => {
  const cleanups: Array<() => unknown> = [];
  const tenant = uniq('cluster');
  const db = new pg.Client({ connectionString: TEST_DATABASE_URL });
  let cluster: RedisClusterUnderTest;
  let api: string;
  let ws: string;
  let svc: string;
  let hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let roles: Awaited<ReturnType<typeof startServingRoles>>;
  let env: Record<string, string>;
  let extra: Proc[];

  beforeAll(async () => {
    cluster = await startRedisCluster(cleanups);
    hooks = await startWebhookReceiver(SECRET);
    cleanups.push(() => hooks.close());
    const [port, wsPort] = [await freePort(), await freePort()];
    env = {
      REDIS_URL: cluster.url,
      QUEUE_PREFIX: uniq('test-cluster'),
      PORT: String(port),
      WS_PORT: String(wsPort),
      WS_THREADS: '1',
      INGEST_SHARDS: '3',
      WEBHOOK_SHARDS: '3',
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_RATE_PER_SEC: '5',
      RATE_LIMIT_USER_PER_MIN: '5',
    };
    extra = [spawnRole('workers/scheduler.ts', { env }, cleanups), spawnRole('workers/webhook.ts', { env }, cleanups)];
    roles = await startServingRoles(env, cleanups);
    await extra[0].waitForLog((l) => l.msg === 'scheduler started', 60_000, 'the scheduler');
    await extra[1].waitForLog((l) => l.msg === 'webhook worker started', 60_000, 'the webhook worker');
    api = `http://127.0.0.1:${port}`;
    ws = `ws://127.0.0.1:${wsPort}/api/v1/ws`;
    svc = await signToken(TEST_JWT_SECRET, { sub: 'svc', tenant, scope: 'notify:send' });
    await db.connect();
  }, 120_000);

  afterAll(async () => {
    await db.end();
    for (const c of cleanups.reverse()) await c();
  });

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const r = await fetch(`${api}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    }).catch(() => null);
    if (!r) return { status: 0, body: null as any };
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  const send = async (body: Record<string, unknown>) => {
    const r = await call('POST', '/notifications', svc, { content: 'c', ...body });
    return { status: r.status, id: r.status === 202 ? (r.body.id as string) : null };
  };
  const stored = async (ids: string[]) =>
    new Set((await db.query('select id from notifications where tenant = $1 and id = any($2::uuid[]) and seq is not null', [tenant, ids])).rows.map((r) => r.id as string));

  test('sends from many users go through all three ingest shards, are stored, pushed and listed; a reconnect with ?since= replays what it missed', { timeout: 60_000 }, async () => {
    const users = Array.from({ length: 12 }, () => uniq('u'));
    const token = await signToken(TEST_JWT_SECRET, { sub: users[0], tenant });
    const socket = await connect(`${ws}?token=${token}`);
    // the node took the user's topic with a sharded subscription on the shard that holds its slot
    const channel = topicChannel(env.QUEUE_PREFIX, topicOf(tenant, `u:${users[0]}`));
    const owner = await cluster.primaryOf(calculateSlot(channel));
    const direct = new Redis({ port: owner, host: '127.0.0.1', lazyConnect: true });
    const [, subscribers] = (await direct.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
    direct.disconnect();
    expect(subscribers).toBe(1);
    const first = await send({ user_id: users[0], title: 'one' });
    expect(first.status).toBe(202);
    await socket.until(() => socket.events().some((f) => f.id === first.id));
    const cursor = socket.events().find((f) => f.id === first.id)!.cursor as string;
    socket.close();
    const ids: string[] = [];
    for (const u of users) ids.push((await send({ user_id: u, title: `to ${u}` })).id!);
    const missed = ids[0];
    await waitFor(async () => (await stored(ids)).size === ids.length, 20_000, 'every send stored');
    // the three shards' hash tags are served by three different primaries
    const tags = shardNames({ cluster: true, shards: { ...SINGLE_LAYOUT.shards, ingest: 3 } }, 'ingest');
    expect(new Set(await Promise.all(tags.map((t) => cluster.primaryOf(calculateSlot(t))))).size).toBe(3);
    // bull-board lists every shard as a queue of its own
    const admin = await signToken(TEST_JWT_SECRET, { sub: 'operator', scope: 'admin' });
    const board = await fetch(`${api}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${admin}` } });
    expect(board.status).toBe(200);
    const listed = ((await board.json()) as { queues: Array<{ name: string }> }).queues.map((q) => q.name);
    const webhookTags = shardNames({ cluster: true, shards: { ...SINGLE_LAYOUT.shards, webhook: 3 } }, 'webhook');
    for (const name of [...tags, ...webhookTags, '{recurring}']) expect(listed).toContain(name);
    const again = await connect(`${ws}?token=${token}&since=${cursor}`);
    await again.until(() => again.events().some((f) => f.id === missed));
    expect(again.events().filter((f) => f.event === 'notification').map((f) => f.id)).toEqual([missed]);
    const list = await call('GET', '/notifications?limit=10', token);
    expect(list.status).toBe(200);
    expect(list.body.notifications.map((n: any) => n.id)).toEqual([missed, first.id]);
    again.close();
  });

  test('a scheduled send fires at its time, and a recurring schedule sends every second', { timeout: 60_000 }, async () => {
    const user = uniq('u');
    const at = new Date(Date.now() + 2000).toISOString();
    const scheduled = await send({ user_id: user, title: 'later', schedule_at: at });
    expect(scheduled.status).toBe(202);
    await waitFor(async () => (await stored([scheduled.id!])).size === 1, 20_000, 'the scheduled send to fire');
    const firedAt = (await db.query('select sent_at from notifications where id = $1', [scheduled.id])).rows[0].sent_at as Date | null;
    if (firedAt) expect(firedAt.getTime()).toBeGreaterThanOrEqual(Date.parse(at) - 50);

    const ticker = uniq('ticker');
    const r = await call('POST', '/schedules', svc, { cron: '* * * * * *', notification: { title: 'tick', content: 'tock', user_id: ticker } });
    expect(r.status).toBe(201);
    await waitFor(
      async () => Number((await db.query('select count(*) from notifications where tenant = $1 and user_id = $2', [tenant, ticker])).rows[0].count) >= 3,
      20_000,
      'three recurring occurrences',
    );
    expect((await call('DELETE', `/schedules/${r.body.id}`, svc)).status).toBe(200);
  });

  test("the api's rate limit holds per user; webhooks to users on all three shards are delivered at the channel's one shared rate", { timeout: 60_000 }, async () => {
    const user = await signToken(TEST_JWT_SECRET, { sub: uniq('reader'), tenant });
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await call('GET', '/notifications/unread-count', user)).status);
    expect(statuses.slice(0, 5).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(5)).toEqual([429, 429]);

    const before = hooks.events.length;
    const arrivals: number[] = [];
    const started = Date.now();
    for (let i = 0; i < 20; i++) {
      const u = uniq('hooked');
      expect((await send({ user_id: u, title: `hook ${i}`, channels: ['app', 'webhook'], metadata: { webhook_url: `${hooks.url}/${u}` } })).status).toBe(202);
    }
    await waitFor(
      () => {
        while (arrivals.length < hooks.events.length - before) arrivals.push(Date.now() - started);
        return hooks.events.length - before >= 20;
      },
      30_000,
      'twenty webhooks',
    );
    // 5 per second shared by three shards: a burst of 5, then one every 200 ms → the 20th ≥ ~3 s in (three
    // limiters of 5/s each would let all 20 through in about one second)
    console.log(`webhooks at 5/s over 3 shards: 20 delivered in ${arrivals[19]} ms`);
    expect(arrivals[19]).toBeGreaterThanOrEqual(2500);
  });

  test('the metrics of every process are pushed and merged, queue depths read per shard, and no process saw a cross-slot refusal', { timeout: 30_000 }, async () => {
    // each process pushes its registry (a transaction on one hash slot) and the api reads them all with one MGET
    const text = await waitFor(async () => {
      const r = await fetch(`${api}/metrics`);
      const body = await r.text();
      return /herald_metrics_processes (\d+)/.exec(body) && Number(/herald_metrics_processes (\d+)/.exec(body)![1]) >= 5 ? body : null;
    }, 20_000, 'five processes in the merged metrics');
    expect(text).toMatch(/herald_metrics_cluster_up 1/);
    expect(text).toContain('queue="{ingest-1.3}"');
    const everyLine = [...Object.values(roles).flatMap((p) => p.lines), ...extra.flatMap((p) => p.lines)];
    expect(everyLine.filter((l) => /CROSSSLOT|MOVED|metrics push to Redis failed/.test(l))).toEqual([]);
  });

  test('a primary is killed under load: its replica takes over, Herald follows it, and what failover lost is counted', { timeout: 120_000 }, async () => {
    // the primary holding the first ingest shard's slot
    const shard0 = shardNames({ cluster: true, shards: { ...SINGLE_LAYOUT.shards, ingest: 3 } }, 'ingest')[0];
    const victimPort = await cluster.primaryOf(calculateSlot(shard0));
    const victim = cluster.nodes.find((n) => n.port === victimPort)!;
    const accepted: Array<{ id: string; at: number }> = [];
    const refused: number[] = [];
    let stop = false;
    const sending = (async () => {
      for (let i = 0; !stop; i++) {
        const r = await send({ user_id: `load-${i % 50}`, title: `load ${i}` });
        if (r.id) accepted.push({ id: r.id, at: Date.now() });
        else refused.push(r.status);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    await waitFor(() => accepted.length >= 50, 20_000, 'sends before the kill');
    const killedAt = Date.now();
    await victim.proc.stop('SIGKILL');
    await waitFor(async () => {
      const p = await cluster.primaryOf(calculateSlot(shard0));
      return p !== -1 && p !== victimPort;
    }, 30_000, 'the replica to take over the slot');
    const promotedAt = Date.now();
    await waitFor(() => accepted.some((a) => a.at > promotedAt + 500), 30_000, 'sends accepted after the failover');
    const resumedAt = Date.now();
    await waitFor(() => accepted.filter((a) => a.at > resumedAt).length >= 50, 30_000, 'sends after the failover');
    stop = true;
    await sending;

    const after = accepted.filter((a) => a.at > resumedAt).map((a) => a.id);
    await waitFor(async () => (await stored(after)).size === after.length, 30_000, 'every send accepted after the failover to be stored').catch(async (err) => {
      const all0 = await stored(after);
      console.log(`not stored: ${after.filter((id) => !all0.has(id)).length} of ${after.length}`);
      console.log(roles.ingest.lines.slice(-30).join('\n'));
      console.log(roles.api.lines.slice(-10).join('\n'));
      throw err;
    });
    await new Promise((res) => setTimeout(res, 3000));
    const all = await stored(accepted.map((a) => a.id));
    const lost = accepted.filter((a) => !all.has(a.id));
    console.log(
      `cluster failover: ${accepted.length} accepted, ${refused.length} refused while the slot moved (statuses ${[...new Set(refused)].join(',') || 'none'}), ` +
        `replica took over ${promotedAt - killedAt} ms after the kill, ${lost.length} accepted and lost`,
    );
    for (const l of lost) expect(l.at).toBeLessThanOrEqual(killedAt + 100);
    // what the api said of a failed send: a Redis that is moving is a 503 (retry), never a 500
    const errors = roles.api.logs().filter((l) => l.level >= 50 && l.msg !== 'redis unavailable');
    expect(errors.map((l) => l.err?.message ?? l.msg)).toEqual([]);
    expect(refused.every((s) => s === 503 || s === 0)).toBe(true);
  });
});
