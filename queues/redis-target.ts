import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * Where Herald's Redis is, from REDIS_URL (or REDIS_CLUSTER_NODES):
 *
 * - `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS): one server;
 * - `redis+sentinel://[:password@]host:port,host:port,…/mastername[/db]`:
 *   the sentinels to ask for the current primary of `mastername`. The
 *   password is the data nodes'; `?sentinel_password=` is the sentinels' own
 *   when they have one. On a failover ioredis asks the sentinels again and
 *   reconnects to the new primary (and resubscribes).
 * - `redis+cluster://[user:password@]host:port,host:port,…` (or
 *   `rediss+cluster://` for TLS): a Redis Cluster; the nodes listed are
 *   where ioredis starts to learn the slot map, any subset will do. A
 *   cluster has no databases, so no `/db`.
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; options: RedisOptions }
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }>; options: RedisOptions };

const SENTINEL = 'redis+sentinel:';
const CLUSTER = /^(rediss?)\+cluster:\/\//;

export function parseRedisUrl(raw: string): RedisTarget {
  if (raw.startsWith('redis://') || raw.startsWith('rediss://')) {
    new URL(raw); // throws on a malformed one
    return { kind: 'single', url: raw };
  }
  const cluster = CLUSTER.exec(raw);
  if (cluster) return parseCluster(raw.slice(cluster[0].length), cluster[1] === 'rediss');
  if (!raw.startsWith(`${SENTINEL}//`)) throw new Error('must start with redis://, rediss://, redis+sentinel:// or redis+cluster://');
  // The host list is not one URL host, so the WHATWG parser cannot read it: take it apart by hand.
  const rest = raw.slice(SENTINEL.length + 2);
  const [beforeQuery, query = ''] = rest.split('?', 2);
  const slash = beforeQuery.indexOf('/');
  if (slash === -1) throw new Error('names no primary: redis+sentinel://host:port,…/mastername');
  const { hosts: sentinels, auth } = hostList(beforeQuery.slice(0, slash), 'sentinel');
  const [name, db, ...extra] = beforeQuery.slice(slash + 1).split('/');
  if (!name || extra.length) throw new Error('must end with /mastername or /mastername/db');
  if (db !== undefined && !/^\d+$/.test(db)) throw new Error(`database "${db}" is not a number`);
  const options: RedisOptions = { sentinels, name: decodeURIComponent(name), ...auth };
  if (db !== undefined) options.db = Number(db);
  const sentinelPassword = new URLSearchParams(query).get('sentinel_password');
  if (sentinelPassword) options.sentinelPassword = sentinelPassword;
  return { kind: 'sentinel', options };
}

function parseCluster(rest: string, tls: boolean): RedisTarget {
  const authority = rest.replace(/\/$/, '');
  if (authority.includes('/') || authority.includes('?')) throw new Error('a Redis Cluster has no databases: redis+cluster://host:port,host:port');
  const { hosts: nodes, auth } = hostList(authority, 'cluster node');
  return { kind: 'cluster', nodes, options: { ...auth, ...(tls ? { tls: {} } : {}) } };
}

/** `[user:password@]host:port,host:port,…` */
function hostList(authority: string, what: string): { hosts: Array<{ host: string; port: number }>; auth: Pick<RedisOptions, 'username' | 'password'> } {
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at);
  const hosts = (at === -1 ? authority : authority.slice(at + 1)).split(',').map((hostPort) => {
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(hostPort);
    if (!m || Number(m[2]) > 65535) throw new Error(`${what} "${hostPort}" is not host:port`);
    return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  });
  const [username, password] = userinfo.includes(':') ? userinfo.split(':', 2) : [userinfo, ''];
  const auth: Pick<RedisOptions, 'username' | 'password'> = {};
  if (password) auth.password = decodeURIComponent(password);
  if (username) auth.username = decodeURIComponent(username);
  return { hosts, auth };
}

/** REDIS_CLUSTER_NODES (`host:port,host:port`) as the REDIS_URL it stands for. */
export const clusterUrlOf = (nodes: string): string => `redis+cluster://${nodes.trim()}`;

export const isClusterUrl = (url: string): boolean => CLUSTER.test(url);

/**
 * A connection to REDIS_URL's Redis with `extra` options on top.
 *
 * On a cluster this is an ioredis Cluster. It is typed as a Redis on
 * purpose: it answers the same commands, and the code that only sends
 * commands stays indifferent to the topology. What differs is kept in one
 * place each: keys one script or transaction touches share a hash tag
 * (queues/keys.ts), and a pipeline on a cluster holds keys of one slot only.
 * Its nodes get `extra` (timeouts, retry policy); the Cluster itself keeps
 * retrying commands while a failover moves slots.
 */
export function connectRedis(url: string, extra: RedisOptions = {}): Redis {
  const target = parseRedisUrl(url);
  if (target.kind === 'single') return new Redis(target.url, extra);
  if (target.kind === 'sentinel') return new Redis({ ...target.options, ...extra });
  // the Cluster has its own offline queue and reconnection policy; the nodes take the rest
  const { enableOfflineQueue, lazyConnect, retryStrategy: _nodeRetry, ...nodeOptions } = extra;
  const options: ClusterOptions = {
    redisOptions: { ...target.options, ...nodeOptions },
    enableOfflineQueue: enableOfflineQueue ?? true,
    lazyConnect: lazyConnect ?? false,
    // sharded pub/sub (SSUBSCRIBE) for realtime topics: one subscriber per shard
    shardedSubscribers: true,
    // while a replica takes over, slots answer CLUSTERDOWN / TRYAGAIN for a second or two: keep asking
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    clusterRetryStrategy: (times) => Math.min(100 + times * 200, 2000),
    slotsRefreshTimeout: 2000,
  } as ClusterOptions;
  return new Cluster(target.nodes, options) as unknown as Redis;
}
