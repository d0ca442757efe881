/**
 * The one registry of Herald's queue names.
 * WARNING: do not rename a queue: jobs waiting under the old name would be
 * stranded in Redis. Add a new name and drain the old one instead.
 */
export const QUEUE = {
  /** every notification passes through here before it is stored */
  ingest: 'ingest',
} as const;

export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];
