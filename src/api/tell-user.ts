import type { Principal } from '../auth/jwt.js';
import { unreadCount } from '../domain/inbox/inbox.js';
import type { FrameBase } from '../feed/frames.js';
import { unreadCountFrame } from '../feed/frames.js';
import { publishEvents } from '../feed/publish.js';
import { userAudience } from '../feed/topics.js';
import type { ApiDeps } from './env.js';

/**
 * Tells the user's other devices (every socket of that user) what changed
 * in their inbox; with `countChanged`, an unread_count frame after it. A
 * failed publish is logged, not an error: the change is committed, and a
 * device that missed the frame finds it on its next read.
 */
export async function tellUser(deps: ApiDeps, who: Pick<Principal, 'sub' | 'tenant' | 'roles' | 'stores'>, frames: FrameBase[], countChanged: boolean): Promise<void> {
  if (countChanged) frames = [...frames, unreadCountFrame(await unreadCount(deps.orm.em.fork(), who))];
  const audience = userAudience(who.sub);
  await publishEvents(
    deps.redis,
    deps.config.QUEUE_PREFIX,
    frames.map((frame) => ({ tenant: who.tenant, audience, frame })),
  ).catch((err) => deps.logger.warn({ err }, 'could not publish inbox event'));
}
