import type { Redis } from 'ioredis';

/**
 * On one Redis (plain pub/sub), a tenant's stored batches are published in
 * cursor order, so every node receives its own topics' frames already in
 * order and needs no order records (src/realtime/order.ts is for a Redis
 * Cluster, whose shards keep no order between them).
 *
 * Each ingest process publishes its batch after its own commit, so two
 * batches a millisecond apart can reach Redis the other way round. The
 * script below keeps, per tenant, the last cursor published (the head): a
 * stretch whose `prev` is the head (or behind it) goes out at once and moves
 * the head to its last cursor; one whose `prev` is ahead waits in Redis
 * until the stretches before it have gone out, and the one that fills the
 * hole sends it. A stretch may carry no messages: cursors reserved and never
 * stored (src/domain/sending/store.ts CursorGap) only move the head.
 *
 * A stretch that never comes (its process died between commit and publish;
 * the retried job republishes without `prev`) would hold the tenant's
 * frames: whatever waits longer than `waitMs` goes out, in cursor order, on
 * the next call for the tenant, and the process that parked a stretch calls
 * again after `waitMs` to make sure of it. The head and what waits expire
 * after a day without use.
 */
const IN_ORDER_LUA = `
-- held_key: each waiting stretch's prev -> "<last> <parked at ms>"; messages_key: prev -> its messages (msgpack),
-- read only when the stretch goes out, so a call scans the small entries alone
local head_key, held_key, messages_key = KEYS[1], KEYS[2], KEYS[3]
local prev, last, wait, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
-- Redis's clock, not the callers': publishers on several hosts compare waits on one clock
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function lt(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function send(list, from)
  for i = from, #list, 2 do redis.call('PUBLISH', list[i], list[i + 1]) end
end
local head = redis.call('GET', head_key)
local parked = 0
if prev ~= '' then
  if head and lt(head, prev) then
    local list = {}
    for i = 5, #ARGV do list[#list + 1] = ARGV[i] end
    redis.call('HSET', held_key, prev, last .. ' ' .. now)
    redis.call('HSET', messages_key, prev, cmsgpack.pack(list))
    parked = 1
  else
    send(ARGV, 5)
    if not head or lt(head, last) then head = last end
  end
end
local held, forced = 0, 0
if redis.call('EXISTS', held_key) == 1 then
  local entries = redis.call('HGETALL', held_key)
  local prevs, lastOf, stale = {}, {}, false
  for i = 1, #entries, 2 do
    local space = string.find(entries[i + 1], ' ', 1, true)
    lastOf[entries[i]] = string.sub(entries[i + 1], 1, space - 1)
    prevs[#prevs + 1] = entries[i]
    if now - tonumber(string.sub(entries[i + 1], space + 1)) >= wait then stale = true end
  end
  table.sort(prevs, lt)
  for _, p in ipairs(prevs) do
    if stale or not head or not lt(head, p) then
      if head and lt(head, p) then forced = forced + 1 end
      local packed = redis.call('HGET', messages_key, p)
      if packed then send(cmsgpack.unpack(packed), 1) end
      redis.call('HDEL', held_key, p)
      redis.call('HDEL', messages_key, p)
      if not head or lt(head, lastOf[p]) then head = lastOf[p] end
    else
      held = held + 1
    end
  end
  if held > 0 then
    redis.call('PEXPIRE', held_key, ttl)
    redis.call('PEXPIRE', messages_key, ttl)
  end
end
if head then redis.call('SET', head_key, head, 'PX', ttl) end
return { parked, held, forced }
`;

const TTL_MS = 24 * 3600_000;

type InOrderRedis = Redis & {
  heraldPublishInOrder(
    head: string,
    held: string,
    messages: string,
    prev: string,
    last: string,
    waitMs: number,
    ttlMs: number,
    ...pairs: Array<string | Buffer>
  ): Promise<[parked: number, held: number, forced: number]>;
};

const headKey = (prefix: string, tenant: string) => `${prefix}:rt-head:${tenant}`;
const heldKey = (prefix: string, tenant: string) => `${prefix}:rt-held:${tenant}`;
const heldMessagesKey = (prefix: string, tenant: string) => `${prefix}:rt-held-messages:${tenant}`;

/** The flush each process has scheduled, per tenant (one at a time). */
const flushes = new Map<string, NodeJS.Timeout>();

function commandOf(redis: Redis): InOrderRedis {
  const r = redis as InOrderRedis;
  if (typeof r.heraldPublishInOrder !== 'function') redis.defineCommand('heraldPublishInOrder', { numberOfKeys: 3, lua: IN_ORDER_LUA });
  return r;
}

export interface InOrderOptions {
  /** longest a stretch waits for the ones before it, ms */
  waitMs: number;
  /** told how many stretches were passed over after `waitMs` (they never came; what followed them went out) */
  onLate?: (stretches: number) => void;
}

/**
 * Publishes the stretch of `tenant`'s cursor chain after `prev` up to `last`
 * (its messages: channel and message pairs, in order) once every stretch
 * before it has been published; `prev` '' only sends what waits too long.
 */
export async function publishInOrder(
  redis: Redis,
  prefix: string,
  tenant: string,
  stretch: { prev: string; last: string; messages: ReadonlyArray<readonly [string, string]> },
  options: InOrderOptions,
): Promise<void> {
  // Messages go as UTF-8 buffers: as strings, ioredis joins the whole command
  // into one string first, and turning that into bytes on the socket cost
  // about twice as much CPU (bench/README.md, unit costs)
  const pairs = stretch.messages.flatMap(([channel, message]) => [channel, Buffer.from(message)]);
  const [, held, forced] = await commandOf(redis).heraldPublishInOrder(
    headKey(prefix, tenant),
    heldKey(prefix, tenant),
    heldMessagesKey(prefix, tenant),
    stretch.prev,
    stretch.last,
    options.waitMs,
    TTL_MS,
    ...pairs,
  );
  if (forced > 0) options.onLate?.(forced);
  if (held > 0) scheduleFlush(redis, prefix, tenant, options);
}

/** After `waitMs`, sends what still waits for the tenant (and again, while something does). */
function scheduleFlush(redis: Redis, prefix: string, tenant: string, options: InOrderOptions): void {
  const key = `${prefix}\0${tenant}`;
  if (flushes.has(key)) return;
  const timer = setTimeout(() => {
    flushes.delete(key);
    publishInOrder(redis, prefix, tenant, { prev: '', last: '', messages: [] }, options).catch(() => {
      // Redis is away: the tenant's next publish sends what waits
    });
  }, options.waitMs + 10);
  timer.unref();
  flushes.set(key, timer);
}
