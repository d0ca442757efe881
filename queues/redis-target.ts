import { Redis, type RedisOptions } from 'ioredis';

/**
 * Where Herald's Redis is, from REDIS_URL:
 *
 * - `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS): one server;
 * - `redis+sentinel://[:password@]host:port,host:port,…/mastername[/db]`:
 *   the sentinels to ask for the current primary of `mastername`. The
 *   password is the data nodes'; `?sentinel_password=` is the sentinels' own
 *   when they have one. On a failover ioredis asks the sentinels again and
 *   reconnects to the new primary (and resubscribes).
 *
 * A Redis Cluster is not supported yet: a `redis+cluster://` URL is refused
 * by the configuration instead of failing later with MOVED.
 */
export type RedisTarget = { kind: 'single'; url: string } | { kind: 'sentinel'; options: RedisOptions };

const SENTINEL = 'redis+sentinel:';

export function parseRedisUrl(raw: string): RedisTarget {
  if (raw.startsWith('redis://') || raw.startsWith('rediss://')) {
    new URL(raw); // throws on a malformed one
    return { kind: 'single', url: raw };
  }
  if (!raw.startsWith(`${SENTINEL}//`)) {
    throw new Error(`must start with redis://, rediss:// or redis+sentinel:// (a Redis Cluster is not supported yet)`);
  }
  // The host list is not one URL host, so the WHATWG parser cannot read it: take it apart by hand.
  const rest = raw.slice(SENTINEL.length + 2);
  const [beforeQuery, query = ''] = rest.split('?', 2);
  const slash = beforeQuery.indexOf('/');
  if (slash === -1) throw new Error('names no primary: redis+sentinel://host:port,…/mastername');
  const authority = beforeQuery.slice(0, slash);
  const [name, db, ...extra] = beforeQuery.slice(slash + 1).split('/');
  if (!name || extra.length) throw new Error('must end with /mastername or /mastername/db');
  const at = authority.lastIndexOf('@');
  const auth = at === -1 ? '' : authority.slice(0, at);
  const sentinels = (at === -1 ? authority : authority.slice(at + 1)).split(',').map((hostPort) => {
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(hostPort);
    if (!m || Number(m[2]) > 65535) throw new Error(`sentinel "${hostPort}" is not host:port`);
    return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  });
  if (db !== undefined && !/^\d+$/.test(db)) throw new Error(`database "${db}" is not a number`);
  const [username, password] = auth.includes(':') ? auth.split(':', 2) : [auth, ''];
  const params = new URLSearchParams(query);
  const options: RedisOptions = { sentinels, name: decodeURIComponent(name) };
  if (password) options.password = decodeURIComponent(password);
  if (username) options.username = decodeURIComponent(username);
  if (db !== undefined) options.db = Number(db);
  const sentinelPassword = params.get('sentinel_password');
  if (sentinelPassword) options.sentinelPassword = sentinelPassword;
  return { kind: 'sentinel', options };
}

/** A connection to REDIS_URL's Redis with `extra` options on top. */
export function connectRedis(url: string, extra: RedisOptions = {}): Redis {
  const target = parseRedisUrl(url);
  return target.kind === 'single' ? new Redis(target.url, extra) : new Redis({ ...target.options, ...extra });
}
