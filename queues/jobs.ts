/**
 * Payload and result types of each queue. queues/ imports nothing of Herald's:
 * these are plain data shapes shared by producers and workers.
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
}

export interface IngestJob {
  notifications: NotificationDraft[];
}

export interface IngestResult {
  stored: number;
}
