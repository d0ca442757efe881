import type { Redis } from 'ioredis';
import { SCOPES, type Principal } from '../../auth/jwt.js';
import type { Orm } from '../../db/orm.js';
import type { Logger } from '../../logger.js';
import { actorOf } from './event.js';
import { recordAfterChange } from './record.js';

/** At most one `ratelimit.refused` event per admin token subject in this window. */
export const REFUSAL_WINDOW_MS = 60_000;

/**
 * Records the rate limiter's refusals of tokens with the `admin` scope: an
 * operator's token hammering the api is worth knowing about (a runaway
 * script, a stolen token). Other tokens' refusals are not administrative
 * and are not recorded.
 *
 * A flood of refused requests must not become a flood of rows: the first
 * refusal of a token subject in each minute takes a Redis key (SET NX with
 * a one-minute expiry, shared by every api process) and only that one is
 * written; the rest of the minute costs one Redis round trip each and no
 * row. The key is per tenant and subject because that is what the
 * limiter counts: every token of one subject shares its bucket. If the row
 * cannot be written, the key is released so the next refusal tries again,
 * and the failure is logged at error level with the event. The request is
 * answered 429 either way: it was refused, and a 500 would tell its caller
 * something untrue.
 */
export function adminRefusalRecorder(deps: { orm: Orm; redis: Redis; prefix: string; logger: Logger }) {
  return async function recordAdminRefusal(who: Principal, requestId: string | undefined): Promise<void> {
    if (!who.scopes.has(SCOPES.admin)) return;
    const key = `${deps.prefix}:audit:refused:${who.tenant}:${who.sub}`;
    let first = true;
    try {
      first = (await deps.redis.set(key, '1', 'PX', REFUSAL_WINDOW_MS, 'NX')) === 'OK';
    } catch (err) {
      // without the key the limiter itself is failing open, so refusals are rare: record this one
      deps.logger.warn({ err: (err as Error).message }, 'audit: could not check the refusal window; recording anyway');
    }
    if (!first) return;
    try {
      await recordAfterChange({ em: () => deps.orm.em.fork(), logger: deps.logger }, actorOf(who, requestId), {
        action: 'ratelimit.refused',
        target: `token:${who.sub}`,
        before: null,
        after: null,
      });
    } catch {
      await deps.redis.del(key).catch(() => undefined);
    }
  };
}
