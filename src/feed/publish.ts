import type { Redis } from 'ioredis';
import { busModeOf, publishAll, type BusMode } from './bus.js';
import { orderChannel, topicChannel } from './channels.js';
import type { FrameBase } from './frames.js';
import { topicOf } from './topics.js';
import { encodeMessage, encodeOrder, topicHash, type OrderEntry } from './wire.js';
import { compareCursors } from '../domain/inbox/cursors.js';

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

/** A topic's records are packed into messages of about this many bytes at most (one PUBLISH each). */
export const MESSAGE_TARGET_BYTES = 256 * 1024;

/**
 * Publishes events on their topics' channels, in one round trip: the
 * records of one topic share messages of up to MESSAGE_TARGET_BYTES, in the
 * order given. Notifications that carry `prev` (stored batches) are first
 * told, in cursor order, on their tenant's order channel, one message per
 * tenant, published before the topic messages. `mode`: 'plain' or
 * 'sharded' (src/feed/bus.ts; default: 'sharded' when `redis` is a Cluster).
 */
export async function publishEvents(redis: Redis, prefix: string, events: OutgoingEvent[], mode: BusMode = busModeOf(redis)): Promise<void> {
  if (!events.length) return;
  const byTopic = new Map<string, string[]>();
  const chains = new Map<string, OrderEntry[]>();
  for (const e of events) {
    const topic = topicOf(e.tenant, e.audience);
    const record = encodeMessage(topic, e.cursor ?? null, e.frame, e.except, e.prev);
    const packed = byTopic.get(topic);
    const last = packed?.[packed.length - 1];
    if (!packed) byTopic.set(topic, [record]);
    else if (last!.length + record.length > MESSAGE_TARGET_BYTES) packed.push(record);
    else packed[packed.length - 1] = `${last}\n${record}`;
    if (!e.cursor || !e.prev) continue;
    const chain = chains.get(e.tenant);
    const entry = { cursor: e.cursor, hash: topicHash(topic), prev: e.prev };
    if (chain) chain.push(entry);
    else chains.set(e.tenant, [entry]);
  }
  const messages: Array<[string, string]> = [];
  for (const [tenant, chain] of chains) {
    chain.sort((a, b) => compareCursors(a.cursor, b.cursor));
    messages.push([orderChannel(prefix, tenant), encodeOrder(chain)]);
  }
  for (const [topic, packed] of byTopic) {
    const channel = topicChannel(prefix, topic);
    for (const m of packed) messages.push([channel, m]);
  }
  await publishAll(redis, mode, messages);
}

/** The topic hash of a stretch no topic holds (topicHash never makes '-'): every node passes over it. */
const NO_TOPIC = '-';

/**
 * Tells the nodes of each tenant to pass over cursors that were reserved and
 * will never be stored (src/domain/sending/store.ts CursorGap), so they do
 * not wait for them before the tenant's next frames: one order record per
 * tenant, each hole one line.
 */
export async function publishGaps(
  redis: Redis,
  prefix: string,
  gaps: ReadonlyArray<{ tenant: string; prev: string; cursor: string }>,
  mode: BusMode = busModeOf(redis),
): Promise<void> {
  if (!gaps.length) return;
  const byTenant = new Map<string, OrderEntry[]>();
  for (const g of gaps) {
    const list = byTenant.get(g.tenant) ?? [];
    list.push({ cursor: g.cursor, hash: NO_TOPIC, prev: g.prev });
    byTenant.set(g.tenant, list);
  }
  await publishAll(
    redis,
    mode,
    [...byTenant].map(([tenant, entries]) => [orderChannel(prefix, tenant), encodeOrder(entries.sort((a, b) => compareCursors(a.cursor, b.cursor)))] as const),
  );
}
