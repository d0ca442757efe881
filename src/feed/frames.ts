/**
 * The frames Herald publishes to sockets, one builder per event, so every
 * publisher (ingest worker, api, recall) sends the same shape. The realtime
 * node forwards frames untouched; on the socket it adds only its own
 * (welcome, the replayed notifications of ?since=, pong, error).
 */

/** What every frame has: its event name. */
export type FrameBase = { event: string } & Record<string, unknown>;

/**
 * A stored notification: its public JSON plus the event name. `event` is
 * added to the presented object, not spread into a new one: this runs for
 * every stored row (a third of the frame's cost was the copy), and JSON key
 * order means nothing to clients.
 */
export function notificationFrame(presented: object): FrameBase & { event: 'notification' } {
  return Object.assign(presented as Record<string, unknown>, { event: 'notification' as const });
}

/** A notification its sender took back: clients remove it (and its group's toast). */
export function recalledFrame(id: string, groupKey: string | null): FrameBase {
  return { event: 'notification.recalled', id, group_key: groupKey };
}

/**
 * The user changed notifications on another device: `notification.read`,
 * `.unread`, `.deleted`, `.seen` or `.archived` (clients drop an archived
 * one from the inbox view).
 */
export type InboxChange = 'notification.read' | 'notification.unread' | 'notification.deleted' | 'notification.seen' | 'notification.archived';
export function inboxChangeFrame(event: InboxChange, ids: string[]): FrameBase {
  return { event, ids };
}

/** The user snoozed a notification: clients drop it from the inbox view until `snoozed_until`. */
export function snoozedFrame(id: string, snoozedUntil: string): FrameBase {
  return { event: 'notification.snoozed', ids: [id], snoozed_until: snoozedUntil };
}

/**
 * A notification is back in the inbox: unarchived, unsnoozed by the user or
 * woken when its snooze ended. It carries the notification as this user now
 * sees it, so a client puts it back without another request.
 */
export type InboxReturn = 'notification.unarchived' | 'notification.unsnoozed';
export function inboxReturnFrame(event: InboxReturn, presented: { id: string }): FrameBase {
  return { event, ids: [presented.id], notification: presented };
}

/** The user's unread count after a change. */
export function unreadCountFrame(unread: number): FrameBase {
  return { event: 'unread_count', unread_count: unread };
}
