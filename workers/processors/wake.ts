import type { IngestResult, WakeRequest } from '../../queues/jobs.js';
import { wakeSnoozed } from '../../src/domain/inbox/states.js';
import { tellUser } from '../../src/domain/inbox/tell-user.js';
import { inboxReturnFrame } from '../../src/feed/frames.js';
import type { DispatchDeps } from './dispatch.js';

/**
 * A snooze has ended: the notification is back in the user's inbox, unread,
 * and the user's sockets get it in a `notification.unsnoozed` frame with
 * the unread count after it. A job whose snooze was replaced or undone
 * meanwhile does nothing. Published after the change is committed, so a
 * client that reloads on the frame finds it. A publish that fails is logged,
 * not retried: the notification is back in lists and counts all the same,
 * and a retry would find the receipt already woken.
 */
export async function wakeProcessor(deps: DispatchDeps, wake: WakeRequest): Promise<IngestResult> {
  const notification = await wakeSnoozed(deps.orm.em.fork(), wake);
  if (!notification) return { stored: 0, woken: 0 };
  const who = { sub: wake.user_id, tenant: wake.tenant, roles: wake.roles, stores: wake.stores };
  await tellUser(deps, who, [inboxReturnFrame('notification.unsnoozed', notification)], true);
  deps.logger.debug({ tenant: wake.tenant, user: wake.user_id, notification: wake.notification_id }, 'snoozed notification woke');
  return { stored: 0, woken: 1 };
}
