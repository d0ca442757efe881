/**
 * Payload and result types of each queue. queues/ imports nothing of Herald's:
 * these are plain data shapes (and the channel list) shared by producers and workers.
 */

export type NotificationType = 'info' | 'success' | 'warning' | 'error' | 'alert' | 'system';
export type Priority = 'low' | 'normal' | 'high' | 'urgent';
export type Channel = 'app' | 'email' | 'sms' | 'wechat' | 'feishu' | 'push' | 'webhook';

/** Exactly one audience: the stored row reaches this user, role, store or the whole tenant. */
export type Target =
  | { kind: 'user'; id: string }
  | { kind: 'role'; id: string }
  | { kind: 'store'; id: string }
  | { kind: 'tenant' };

/** A button on a notification: a client shows `label` and opens `url` (http or https) when it is taken. */
export interface NotificationAction {
  label: string;
  url: string;
  style: 'primary' | 'secondary';
}

/**
 * A file a notification's emails carry. Stored ones name their row in the
 * `attachments` table (`id`); one given by URL has `url` until the email
 * worker fetches it, then `id` too, or `error` when it could not be fetched.
 */
export interface AttachmentRef {
  /** the name the recipient sees (already sanitised) */
  filename: string;
  content_type: string | null;
  id?: string;
  size?: number;
  url?: string;
  error?: string;
}

/** One notification as the api accepted it; its id is final. */
export interface NotificationDraft {
  id: string;
  tenant: string;
  target: Target;
  title: string;
  content: string;
  type: NotificationType;
  priority: Priority;
  channels: Channel[];
  fallback_channels: Channel[];
  metadata: Record<string, unknown>;
  source: string | null;
  group_key: string | null;
  idempotency_key: string | null;
  /** who sent it (the token's sub) */
  sender: string;
  /** ISO time the api accepted it */
  created_at: string;
  /** ISO time it should be delivered, when scheduled */
  schedule_at: string | null;
  /** what a client opens when the notification is clicked (absent in jobs queued before links existed, as are image_url and actions) */
  url?: string | null;
  /** a picture a client shows with it */
  image_url?: string | null;
  /** up to three buttons */
  actions?: NotificationAction[];
  /**
   * Users a role, store or tenant notification must not reach (members a
   * schedule_local send gave a notification of their own, in their zone).
   */
  except?: string[];
  /** files its emails carry, by reference only: job data never holds their bytes */
  attachments?: AttachmentRef[];
  /**
   * The W3C traceparent of the span that enqueued it, when tracing is on: its
   * ingest span joins the sender's trace. A bulk send's notifications share
   * one, so an ingest job writes it once (in `shared`).
   */
  trace?: string;
}

export interface IngestJob {
  /** with `shared`, each holds only the fields it does not share (queues/ingest-payload.ts draftsOf) */
  notifications: NotificationDraft[];
  /** the fields all `notifications` have in common, written once (absent in jobs queued before it existed) */
  shared?: Partial<NotificationDraft>;
  /** set (with no notifications) on a scheduled notification's delayed job: fire these stored ids at their time */
  fire?: FireRequest;
  /** set (with no notifications) on a snoozed notification's delayed job: wake it at its time */
  wake?: WakeRequest;
}

/** Scheduled notifications, already stored with status 'scheduled', to put into inboxes now. */
export interface FireRequest {
  tenant: string;
  ids: string[];
  /** the W3C traceparent of the send that scheduled them (with tracing on): their firing joins its trace */
  trace?: string;
}

/** A notification one user snoozed, to put back into that user's inbox when the snooze ends. */
export interface WakeRequest {
  tenant: string;
  user_id: string;
  /** the user's roles and stores when they snoozed it: the unread count sent on waking counts that inbox */
  roles: string[];
  stores: string[];
  notification_id: string;
  /** ISO time the snooze ends; the job does nothing when the receipt says otherwise by then (snoozed again, unsnoozed) */
  until: string;
}

export interface IngestResult {
  stored: number;
  /** wake jobs: 1 when the notification came back, 0 when its snooze had changed */
  woken?: number;
}

/** The channels that leave Herald (everything but the in-app inbox); each has its own queue. */
export type ExternalChannel = Exclude<Channel, 'app'>;
export const EXTERNAL_CHANNELS = ['email', 'sms', 'wechat', 'feishu', 'push', 'webhook'] as const satisfies readonly ExternalChannel[];

/** What a delivery says, copied from the notification so a channel job needs no extra read. */
export interface DeliveryMessage {
  title: string;
  content: string;
  type: NotificationType;
  priority: Priority;
  metadata: Record<string, unknown>;
  /** ISO time the notification was accepted (delivery latency is measured from it) */
  created_at: string;
  /** the notification's link, picture and buttons (absent in jobs planned before channels showed them) */
  url?: string | null;
  image_url?: string | null;
  actions?: NotificationAction[];
  /** the notification's group: a device shows the group's newest in place of the one before (APNs collapse id) */
  group_key?: string | null;
}

/** One delivery: one channel to one recipient. Its id is deterministic (see deliveryId in src/domain/delivery/records.ts). */
export interface DeliveryJob {
  delivery_id: string;
  tenant: string;
  notification_id: string;
  sender: string;
  /** the recipient's user id, or the raw address of a direct (multi-channel) send */
  recipient: string;
  /** true when `recipient` is a raw address with no recipients row */
  direct: boolean;
  channel: ExternalChannel;
  /** where to send (email, phone, channel user id, push tokens joined by ',', URL); null when the recipient has none */
  address: string | null;
  /** channels still to try, in order, if this delivery fails for good */
  fallbacks: ExternalChannel[];
  /** the delivery whose failure led to this one */
  fallback_of: string | null;
  message: DeliveryMessage;
  /** the W3C traceparent its attempt spans are children of, when tracing is on (its notification's ingest span, or the failed delivery's) */
  trace?: string;
}

export interface DeliveryResult {
  status: 'sent' | 'failed' | 'skipped';
  provider_message_id?: string | null;
}

/**
 * One digest window: the deliveries held for one user, channel and digest key
 * since `window_start` go out as one message when the job runs (at
 * window_start + the window). src/domain/digest/ holds the rules.
 */
export interface DigestJob {
  tenant: string;
  user_id: string;
  channel: ExternalChannel;
  key: string;
  /** ISO time the window's first event arrived */
  window_start: string;
}

export interface DigestResult {
  /** deliveries the combined message carries (0 when another run sent them, or all were recalled) */
  members: number;
  /** the combined delivery's id, when there was one */
  delivery_id?: string;
}

/** One occurrence of a recurring schedule (POST /schedules): the scheduler process makes its notification. */
export interface RecurringJob {
  schedule_id: string;
  tenant: string;
}
