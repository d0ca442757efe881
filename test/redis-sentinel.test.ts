/**
 * Herald behind Redis Sentinel: REDIS_URL names the sentinels
 * (`redis+sentinel://host:port,…/mastername`), and the api, the ingest
 * worker and the realtime node find the primary through them. The primary
 * is SIGKILLed while sends go on: the sentinels promote the replica and
 * Herald follows it; what was accepted and not stored (asynchronous
 * replication loses the last writes before a failover) is counted.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseRedisUrl } from '../queues/redis-target.js';
import { signToken } from '../src/auth/jwt.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { TEST_DATABASE_URL, TEST_JWT_SECRET } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { freePort } from './helpers/procs.js';
import { startServingRoles } from './helpers/roles.js';
import { startSentinelGroup, type SentinelGroup } from './helpers/sentinel.js';
import { connect } from './helpers/ws-node.js';

describe('REDIS_URL', () => {
  test('redis://, rediss:// and redis+sentinel:// are read; anything else is refused naming the variable', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379/2' });
    expect(parseRedisUrl('redis+sentinel://:s3cret@10.0.0.1:26379,[::1]:26380,sentinel-c:26381/mymaster/3?sentinel_password=x')).toEqual({
      kind: 'sentinel',
      options: {
        sentinels: [
          { host: '10.0.0.1', port: 26379 },
          { host: '::1', port: 26380 },
          { host: 'sentinel-c', port: 26381 },
        ],
        name: 'mymaster',
        password: 's3cret',
        db: 3,
        sentinelPassword: 'x',
      },
    });
    for (const bad of ['redis+sentinel://h:1,h:2', 'redis+sentinel://h:1,h/m', 'redis+sentinel://h:1/m/x', 'http://h:1']) {
      expect(() => parseRedisUrl(bad), bad).toThrow();
      expect(() => loadConfig({ REDIS_URL: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ REDIS_URL: bad })).toThrow(/REDIS_URL/);
    }
    expect(loadConfig({ REDIS_URL: 'redis+sentinel://127.0.0.1:26379/herald' }).REDIS_URL).toBe('redis+sentinel://127.0.0.1:26379/herald');
  });
});

describe('on Sentinel', () => {
  const cleanups: Array<() => unknown> = [];
  const tenant = uniq('sentinel');
  const db = new pg.Client({ connectionString: TEST_DATABASE_URL });
  let group: SentinelGroup;
  let api: string;
  let ws: string;
  let svc: string;

  beforeAll(async () => {
    group = await startSentinelGroup(cleanups);
    const [port, wsPort] = [await freePort(), await freePort()];
    const env = { REDIS_URL: group.url, QUEUE_PREFIX: uniq('test-sentinel'), PORT: String(port), WS_PORT: String(wsPort), WS_THREADS: '1' };
    await startServingRoles(env, cleanups);
    api = `http://127.0.0.1:${port}`;
    ws = `ws://127.0.0.1:${wsPort}/api/v1/ws`;
    svc = await signToken(TEST_JWT_SECRET, { sub: 'svc', tenant, scope: 'notify:send' });
    await db.connect();
  }, 90_000);

  afterAll(async () => {
    await db.end();
    for (const c of cleanups.reverse()) await c();
  });

  const send = async (user: string, title: string) => {
    const r = await fetch(`${api}/api/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: user, title, content: 'c' }),
    }).catch(() => null);
    return r ? { status: r.status, id: r.status === 202 ? ((await r.json()) as { id: string }).id : null } : { status: 0, id: null };
  };
  const stored = async (ids: string[]) =>
    new Set((await db.query('select id from notifications where tenant = $1 and id = any($2::uuid[])', [tenant, ids])).rows.map((r) => r.id as string));

  test('a send is accepted, stored and pushed to the user socket, all through the primary the sentinels name', { timeout: 30_000 }, async () => {
    const user = uniq('u');
    const socket = await connect(`${ws}?token=${await signToken(TEST_JWT_SECRET, { sub: user, tenant })}`);
    const { status, id } = await send(user, 'through sentinel');
    expect(status).toBe(202);
    await socket.until(() => socket.events().some((f) => f.id === id));
    expect((await stored([id!])).has(id!)).toBe(true);
    socket.close();
  });

  test('the primary is killed under load: the replica is promoted, Herald follows it, and what failover lost is counted', { timeout: 90_000 }, async () => {
    const user = uniq('u');
    const accepted: Array<{ id: string; at: number }> = [];
    const refused: number[] = [];
    let killedAt = 0;
    let promotedAt = 0;
    let stop = false;
    const sending = (async () => {
      for (let i = 0; !stop; i++) {
        const r = await send(user, `load ${i}`);
        if (r.id) accepted.push({ id: r.id, at: Date.now() });
        else refused.push(r.status);
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    await waitFor(() => accepted.length >= 20, 20_000, 'sends before the kill');
    killedAt = Date.now();
    await group.primary.stop('SIGKILL');
    await waitFor(async () => (await group.primaryNow()) === group.replicaPort, 30_000, 'the sentinels to promote the replica');
    promotedAt = Date.now();
    // Herald follows: sends are accepted again, and what is accepted from now on is stored
    await waitFor(() => accepted.some((a) => a.at > promotedAt + 500), 30_000, 'sends accepted on the new primary');
    const resumedAt = Date.now();
    await waitFor(() => accepted.filter((a) => a.at > resumedAt).length >= 20, 20_000, 'sends after the failover');
    stop = true;
    await sending;

    const after = accepted.filter((a) => a.at > resumedAt).map((a) => a.id);
    await waitFor(async () => (await stored(after)).size === after.length, 20_000, 'every send accepted after the failover to be stored');
    // the loss: accepted before the failover settled and never stored (no retry can bring these back)
    await new Promise((res) => setTimeout(res, 2000));
    const all = await stored(accepted.map((a) => a.id));
    const lost = accepted.filter((a) => !all.has(a.id));
    console.log(
      `sentinel failover: ${accepted.length} accepted, ${refused.length} refused while Redis moved (statuses ${[...new Set(refused)].join(',')}), ` +
        `promoted ${promotedAt - killedAt} ms after the kill, ${lost.length} accepted and lost`,
    );
    // whatever was lost had been accepted by the old primary, before it was killed
    for (const l of lost) expect(l.at).toBeLessThanOrEqual(killedAt + 100);
    expect(refused.every((s) => s === 503 || s === 0)).toBe(true);
  });
});
