/**
 * On one Redis, stored notifications are published only on topics a node
 * listens to (src/feed/publish.ts listenedTopics): a bulk send to users
 * with no socket open costs no PUBLISH. A redis-server of the test's own,
 * so the PUBLISH count in its INFO is this test's alone.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { topicChannel } from '../src/feed/channels.js';
import { publishEvents, type OutgoingEvent } from '../src/feed/publish.js';
import { topicOf } from '../src/feed/topics.js';
import { freePort, startRedis, type Proc } from './helpers/procs.js';

let server: Proc;
let redis: Redis;
const clients: Redis[] = [];
const prefix = 'listened';
const tenant = 'acme';

beforeAll(async () => {
  const port = await freePort();
  server = await startRedis(port);
  redis = new Redis({ port, host: '127.0.0.1' });
  clients.push(redis);
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop('SIGKILL');
});

/** PUBLISH calls Redis has run so far, those inside scripts included. */
async function publishes(): Promise<number> {
  const m = /cmdstat_publish:calls=(\d+)/.exec(await redis.info('commandstats'));
  return m ? Number(m[1]) : 0;
}

/** A subscriber on its own connection; what it receives, by channel. */
async function listener(): Promise<{ sub: Redis; got: string[] }> {
  const sub = new Redis({ port: (redis.options.port as number), host: '127.0.0.1' });
  clients.push(sub);
  const got: string[] = [];
  sub.on('message', (channel: string) => got.push(channel));
  sub.on('pmessage', (_p: string, channel: string) => got.push(channel));
  return { sub, got };
}

let cursor = 1000;
/** One stored batch of `users`, chained as dispatchStored would publish it. */
function batch(users: string[]): OutgoingEvent[] {
  return users.map((u) => {
    const prev = String(cursor);
    cursor += 1;
    return { tenant, audience: `u:${u}`, cursor: String(cursor), prev, frame: { event: 'notification', id: `n${cursor}` } };
  });
}
const channelOf = (user: string) => topicChannel(prefix, topicOf(tenant, `u:${user}`));

test('a stored batch goes out only on the topics a node listens to; the cursor chain moves on all the same', async () => {
  const { sub, got } = await listener();
  await sub.subscribe(channelOf('u7'));
  const before = await publishes();
  await publishEvents(redis, prefix, batch(Array.from({ length: 100 }, (_, i) => `u${i}`)));
  expect((await publishes()) - before).toBe(1);
  await expect.poll(() => got).toEqual([channelOf('u7')]);
  // the next batch is not held back: the head moved over the 99 left out
  await publishEvents(redis, prefix, batch(['u7']));
  await expect.poll(() => got.length).toBe(2);
  await sub.unsubscribe();
});

test('a small batch, or one with someone listening by pattern, goes out on every topic', async () => {
  const few = await publishes();
  await publishEvents(redis, prefix, batch(['a', 'b', 'c']));
  expect((await publishes()) - few).toBe(3);

  const { sub, got } = await listener();
  await sub.psubscribe(topicChannel(prefix, '*'));
  const before = await publishes();
  await publishEvents(redis, prefix, batch(Array.from({ length: 100 }, (_, i) => `p${i}`)));
  expect((await publishes()) - before).toBe(100);
  await expect.poll(() => got.length).toBe(100);
  await sub.punsubscribe();
});
