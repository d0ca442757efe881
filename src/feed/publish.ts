import type { Redis } from 'ioredis';
import { busModeOf, publishAll, type BusMode } from './bus.js';
import { orderChannel, topicChannel } from './channels.js';
import { publishInOrder, type InOrderOptions } from './in-order.js';
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
  /** the frame, or what makes it: made only if the event is published (a bulk batch's mostly are not: listenedTopics) */
  frame: FrameBase | (() => FrameBase);
  /** users of the audience this event must not reach */
  except?: readonly string[];
}

/** A topic's records are packed into messages of about this many bytes at most (one PUBLISH each). */
export const MESSAGE_TARGET_BYTES = 256 * 1024;

export interface PublishOptions {
  /** 'plain' or 'sharded' (src/feed/bus.ts; default: 'sharded' when `redis` is a Cluster) */
  mode?: BusMode;
  /** on one Redis: longest a tenant's stretch waits for the stretches before it (src/feed/in-order.ts), ms */
  orderWaitMs?: number;
  /** on one Redis: told how many stretches were passed over after the wait (they never came) */
  onLate?: (stretches: number) => void;
}

/** WS_REORDER_WAIT_MS's default. */
const ORDER_WAIT_MS = 1000;

/**
 * Publishes events on their topics' channels: the records of one topic
 * share messages of up to MESSAGE_TARGET_BYTES, in the order given.
 *
 * Notifications that carry `prev` (stored batches) must reach each node in
 * their tenant's cursor order. On one Redis ('plain'), a tenant's stretch of
 * them is published only after the stretches before it
 * (src/feed/in-order.ts): one subscriber connection receives messages in
 * the order Redis ran the PUBLISHes, so the records need no `prev` and no
 * order record is sent. On a Redis Cluster ('sharded') the topics are on
 * different shards, with no order between them: the records keep `prev`, and
 * the stretches are told, in cursor order, on their tenant's order channel
 * (one message per tenant, published first), from which the nodes restore
 * the order (src/realtime/order.ts).
 */
export async function publishEvents(redis: Redis, prefix: string, events: OutgoingEvent[], options: PublishOptions = {}): Promise<void> {
  if (!events.length) return;
  const mode = options.mode ?? busModeOf(redis);
  if (mode === 'plain') return publishPlain(redis, prefix, events, { waitMs: options.orderWaitMs ?? ORDER_WAIT_MS, onLate: options.onLate });
  const chains = new Map<string, OrderEntry[]>();
  for (const e of events) {
    if (!e.cursor || !e.prev) continue;
    const chain = chains.get(e.tenant);
    const entry = { cursor: e.cursor, hash: topicHash(topicOf(e.tenant, e.audience)), prev: e.prev };
    if (chain) chain.push(entry);
    else chains.set(e.tenant, [entry]);
  }
  const messages: Array<readonly [string, string]> = [];
  for (const [tenant, chain] of chains) {
    chain.sort((a, b) => compareCursors(a.cursor, b.cursor));
    messages.push([orderChannel(prefix, tenant), encodeOrder(chain)]);
  }
  messages.push(...packed(prefix, events, false));
  await publishAll(redis, mode, messages);
}

/** One Redis: events outside any chain at once; each tenant's chained ones by stretch, in cursor order. */
async function publishPlain(redis: Redis, prefix: string, events: OutgoingEvent[], order: InOrderOptions): Promise<void> {
  const loose: OutgoingEvent[] = [];
  const byTenant = new Map<string, OutgoingEvent[]>();
  for (const e of events) {
    if (!e.cursor || !e.prev) loose.push(e);
    else {
      const list = byTenant.get(e.tenant);
      if (list) list.push(e);
      else byTenant.set(e.tenant, [e]);
    }
  }
  const stored = [...byTenant.values()].flat();
  const heard = stored.length >= LISTENED_CHECK_MIN ? await listenedTopics(redis, prefix, stored) : null;
  const tenantStretches = async (tenant: string, list: OutgoingEvent[]) => {
    list.sort((a, b) => compareCursors(a.cursor!, b.cursor!));
    // a stretch: events each following the one before it (one batch's reservation is one stretch)
    let from = 0;
    for (let i = 1; i <= list.length; i++) {
      if (i < list.length && list[i].prev === list[i - 1].cursor) continue;
      const stretch = list.slice(from, i);
      const sent = heard ? stretch.filter((e) => heard.has(topicOf(e.tenant, e.audience))) : stretch;
      await publishInOrder(redis, prefix, tenant, { prev: stretch[0].prev!, last: stretch[stretch.length - 1].cursor!, messages: packed(prefix, sent, true) }, order);
      from = i;
    }
  };
  await Promise.all([publishAll(redis, 'plain', packed(prefix, loose, true)), ...[...byTenant].map(([tenant, list]) => tenantStretches(tenant, list))]);
}

/**
 * Stored notifications of one publish from which on their topics are checked
 * for listeners first: below it, the check's round trip costs the publisher
 * more than the frames it could leave out (single sends at 1,000/s come a
 * few per batch; measured in bench/README.md, unit costs).
 */
const LISTENED_CHECK_MIN = 64;

/**
 * On one Redis, the topics of `events` some node listens to; null when
 * every topic must be published (someone listens by pattern: an operator's
 * PSUBSCRIBE, a test).
 *
 * Stored notifications go out only on those topics. Most recipients of a
 * bulk send have no socket open, and a frame nobody receives still cost the
 * publisher its JSON and bytes and Redis its PUBLISH. Leaving it out loses
 * nothing: the row committed before this check, and a node that subscribes
 * to the topic after it starts the socket's catch-up (which reads the row
 * from PostgreSQL) only once Redis has confirmed the subscription
 * (src/realtime/subscriptions.ts), that is, after this check.
 */
async function listenedTopics(redis: Redis, prefix: string, events: readonly OutgoingEvent[]): Promise<Set<string> | null> {
  const topics = [...new Set(events.map((e) => topicOf(e.tenant, e.audience)))];
  const [[, patterns], [, counts]] = (await redis
    .pipeline()
    .call('PUBSUB', 'NUMPAT')
    .call('PUBSUB', 'NUMSUB', ...topics.map((t) => topicChannel(prefix, t)))
    .exec()) as [[Error | null, number], [Error | null, Array<string | number>]];
  if (!Array.isArray(counts) || patterns !== 0) return null;
  const heard = new Set<string>();
  for (let i = 0; i < topics.length; i++) if (Number(counts[2 * i + 1]) > 0) heard.add(topics[i]);
  return heard;
}

/**
 * The events as topic messages, each record in its topic's message, in the
 * order given. `ordered` (one Redis, in cursor order): a message packs a run
 * of consecutive records of one topic only, so a node holding several of
 * the topics receives the records in the order given; otherwise all the
 * records of a topic share its messages (the cursor lines then name `prev`,
 * and nodes restore the order).
 */
function packed(prefix: string, events: readonly OutgoingEvent[], ordered: boolean): Array<readonly [string, string]> {
  const out: Array<[string, string]> = [];
  const open = new Map<string, number>(); // a topic's message still taking records: its index in `out`
  let lastTopic = '';
  for (const e of events) {
    const topic = topicOf(e.tenant, e.audience);
    const record = encodeMessage(topic, e.cursor ?? null, typeof e.frame === 'function' ? e.frame() : e.frame, e.except, ordered ? null : e.prev);
    const at = ordered ? (topic === lastTopic ? out.length - 1 : -1) : (open.get(topic) ?? -1);
    lastTopic = topic;
    if (at >= 0 && out[at][1].length + record.length <= MESSAGE_TARGET_BYTES) out[at][1] += `\n${record}`;
    else {
      open.set(topic, out.length);
      out.push([topicChannel(prefix, topic), record]);
    }
  }
  return out;
}

/** The topic hash of a stretch no topic holds (topicHash never makes '-'): every node passes over it. */
const NO_TOPIC = '-';

/**
 * Cursors that were reserved and will never be stored
 * (src/domain/sending/store.ts CursorGap): the tenant's next frames must not
 * wait for them. On one Redis they move the tenant's published head; on a
 * Cluster they are told on the tenant's order channel, each hole one line.
 */
export async function publishGaps(
  redis: Redis,
  prefix: string,
  gaps: ReadonlyArray<{ tenant: string; prev: string; cursor: string }>,
  options: PublishOptions = {},
): Promise<void> {
  if (!gaps.length) return;
  const mode = options.mode ?? busModeOf(redis);
  if (mode === 'plain') {
    const order = { waitMs: options.orderWaitMs ?? ORDER_WAIT_MS, onLate: options.onLate };
    for (const g of gaps) await publishInOrder(redis, prefix, g.tenant, { prev: g.prev, last: g.cursor, messages: [] }, order);
    return;
  }
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
