import type { Redis } from 'ioredis';
import { realtimeChannel } from './channels.js';
import type { FrameBase } from './frames.js';
import { topicOf } from './topics.js';
import { encodeMessage } from './wire.js';

export interface OutgoingEvent {
  tenant: string;
  audience: string;
  cursor?: string | null;
  /** the tenant's cursor before `cursor` (StoredRow.prev) */
  prev?: string | null;
  frame: FrameBase;
  /** users of the audience this event must not reach */
  except?: readonly string[];
}

/** Records are packed into messages of about this many bytes at most (one PUBLISH each). */
export const MESSAGE_TARGET_BYTES = 256 * 1024;

/** Publishes events in as few messages as fit MESSAGE_TARGET_BYTES, in one round trip, in order. */
export async function publishEvents(redis: Redis, prefix: string, events: OutgoingEvent[]): Promise<void> {
  if (!events.length) return;
  const channel = realtimeChannel(prefix);
  const messages: string[] = [];
  let current = '';
  for (const e of events) {
    const record = encodeMessage(topicOf(e.tenant, e.audience), e.cursor ?? null, e.frame, e.except, e.prev);
    if (current && current.length + record.length > MESSAGE_TARGET_BYTES) {
      messages.push(current);
      current = record;
    } else current = current ? `${current}\n${record}` : record;
  }
  messages.push(current);
  if (messages.length === 1) {
    await redis.publish(channel, messages[0]);
    return;
  }
  const pipe = redis.pipeline();
  for (const m of messages) pipe.publish(channel, m);
  await pipe.exec();
}
