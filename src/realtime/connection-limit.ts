import type { Redis } from 'ioredis';
import { liveNodes } from './presence.js';

/**
 * At most MAX_CONNECTIONS_PER_USER sockets per user across every realtime
 * node. Each user has a Redis sorted set of its sockets scored by connect
 * order; opening one adds it and returns the oldest ones past the limit,
 * which their nodes close with 4001. Entries of nodes whose presence has
 * expired (a crashed node) are dropped first, so they never count.
 */
const userKey = (prefix: string, tenant: string, user: string) => `${prefix}:ws:user:${tenant}\u001f${user}`;

/** Members are `<nodeId>|<connId>` so a node can tell whose socket to close. */
export const memberOf = (nodeId: string, connId: string) => `${nodeId}|${connId}`;
export const parseMember = (member: string) => {
  const i = member.indexOf('|');
  return { nodeId: member.slice(0, i), connId: member.slice(i + 1) };
};

// KEYS[1] the user's set
// ARGV: member, score, max, now (ms), key ttl (ms), the live nodes' ids joined by newlines (presence.ts).
// The live nodes come as an argument, read once per batch, not as a second key: on a Redis Cluster a
// script touches one slot, and each user's set is in a slot of its own.
const ADMIT = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local live = {}
for node in string.gmatch(ARGV[6], '[^\\n]+') do live[node] = true end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, m in ipairs(members) do
  local node = string.sub(m, 1, string.find(m, '|', 1, true) - 1)
  if not live[node] then redis.call('ZREM', KEYS[1], m) end
end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
local victims = {}
if over > 0 then
  victims = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREM', KEYS[1], unpack(victims))
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return victims
`;

let order = 0;
/**
 * Connect order: ms time with a per-process counter, so sockets opened in
 * the same ms still order. Taken when the socket opens: its admission may
 * run later, in a batch, and the oldest must still be the first opened.
 */
export function connectScore(): number {
  order = (order + 1) % 1000;
  return Date.now() * 1000 + order;
}

/** A socket to count against its user's limit. */
export interface Admission {
  tenant: string;
  user: string;
  member: string;
  /** connectScore() at open */
  score: number;
}

type WithAdmit = Redis & { heraldWsAdmit(userKey: string, member: string, score: number, max: number, now: number, ttlMs: number, live: string): Promise<string[]> };

/**
 * Records new sockets, in the order given, in one round trip (a pipeline:
 * each user's set is its own key), and returns for each the members that
 * must now be closed (oldest first). A reconnect storm opens thousands of
 * sockets a second: one EVAL each, script text included, cost Redis and the
 * node a command and a round trip per socket. `ttlMs`: how long an idle
 * user's set lives (default 1 day).
 */
export async function admitConnections(redis: Redis, prefix: string, max: number, admissions: readonly Admission[], ttlMs = 86_400_000): Promise<string[][]> {
  if (!admissions.length) return [];
  const r = redis as WithAdmit;
  if (typeof r.heraldWsAdmit !== 'function') redis.defineCommand('heraldWsAdmit', { numberOfKeys: 1, lua: ADMIT });
  const now = Date.now();
  const live = (await liveNodes(redis, prefix, now)).join('\n');
  // one command per user, sent together (on a Redis Cluster the users' sets live on different nodes)
  return Promise.all(admissions.map((a) => r.heraldWsAdmit(userKey(prefix, a.tenant, a.user), a.member, a.score, max, now, ttlMs, live)));
}

export async function releaseConnection(redis: Redis, prefix: string, tenant: string, user: string, member: string): Promise<void> {
  await redis.zrem(userKey(prefix, tenant, user), member);
}
