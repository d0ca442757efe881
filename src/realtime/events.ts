import type { Redis } from 'ioredis';
import { topicOf } from '../domain/audience.js';

/**
 * The Redis pub/sub contract between publishers (ingest worker, api) and
 * realtime nodes. One channel per Herald deployment (per QUEUE_PREFIX); each
 * message is `<topic>\n<cursor>\n<frame JSON>` so a node can route it with two
 * indexOf calls and hand the JSON to uWS publish untouched. `cursor` is the
 * inbox cursor of a notification frame, empty for other events.
 */
export const realtimeChannel = (prefix: string): string => `${prefix}:realtime`;

/** Node-to-node control messages (e.g. close a socket another node holds); see src/realtime/connection-limit.ts. */
export const controlChannel = (prefix: string): string => `${prefix}:realtime:control`;

export interface RealtimeMessage {
  topic: string;
  cursor: string;
  frame: string;
}

export function encodeMessage(topic: string, cursor: string | null, frame: object): string {
  return `${topic}\n${cursor ?? ''}\n${JSON.stringify(frame)}`;
}

export function decodeMessage(raw: string): RealtimeMessage {
  const a = raw.indexOf('\n');
  const b = raw.indexOf('\n', a + 1);
  return { topic: raw.slice(0, a), cursor: raw.slice(a + 1, b), frame: raw.slice(b + 1) };
}

export interface OutgoingEvent {
  tenant: string;
  audience: string;
  cursor?: string | null;
  frame: { event: string } & Record<string, unknown>;
}

/** Publishes events in one round trip. */
export async function publishEvents(redis: Redis, prefix: string, events: OutgoingEvent[]): Promise<void> {
  if (!events.length) return;
  const channel = realtimeChannel(prefix);
  const pipe = redis.pipeline();
  for (const e of events) pipe.publish(channel, encodeMessage(topicOf(e.tenant, e.audience), e.cursor ?? null, e.frame));
  await pipe.exec();
}
