import type { Redis } from 'ioredis';
import type { Principal } from '../../auth/jwt.js';
import type { Orm } from '../../db/orm.js';
import { unreadCountFrame, type FrameBase } from '../../feed/frames.js';
import { publishEvents } from '../../feed/publish.js';
import { userAudience } from '../../feed/topics.js';
import type { Logger } from '../../logger.js';
import { unreadCount } from './inbox.js';

export interface TellDeps {
  orm: Orm;
  /** a normal (non-subscriber) connection to publish on */
  redis: Redis;
  prefix: string;
  logger: Logger;
}

/**
 * Tells every socket of a user what changed in their inbox; with
 * `countChanged`, an unread_count frame after it. Call it once the change is
 * committed. A failed publish is logged, not an error: the change stands,
 * and a device that missed the frame finds it on its next read.
 */
export async function tellUser(deps: TellDeps, who: Pick<Principal, 'sub' | 'tenant' | 'roles' | 'stores'>, frames: FrameBase[], countChanged: boolean): Promise<void> {
  if (countChanged) frames = [...frames, unreadCountFrame(await unreadCount(deps.orm.em.fork(), who))];
  const audience = userAudience(who.sub);
  await publishEvents(
    deps.redis,
    deps.prefix,
    frames.map((frame) => ({ tenant: who.tenant, audience, frame })),
  ).catch((err) => deps.logger.warn({ err, user: who.sub }, 'could not publish inbox event'));
}
