/**
 * The one registry of Herald's queue names.
 * WARNING: do not rename a queue: jobs waiting under the old name would be
 * stranded in Redis. Add a new name and drain the old one instead.
 */
export const QUEUE = {
  /** every notification passes through here before it is stored */
  ingest: 'ingest',
  /** one delivery queue per external channel: each has its own worker process and rate limit */
  email: 'deliver-email',
  sms: 'deliver-sms',
  wechat: 'deliver-wechat',
  feishu: 'deliver-feishu',
  push: 'deliver-push',
  webhook: 'deliver-webhook',
  /** recurring sends: BullMQ job schedulers `schedule-<id>` add one job per cron occurrence; the scheduler process runs them */
  recurring: 'recurring',
  /** digests: one delayed job per (tenant, user, channel, digest key) window sends its held deliveries as one message; the ingest process runs them */
  digest: 'digest',
} as const;

export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];
