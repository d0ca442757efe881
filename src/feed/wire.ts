/**
 * The Redis pub/sub contract between publishers (ingest worker, api) and
 * realtime nodes, on the topic channels (src/feed/channels.ts): a message
 * carries one or more records of its channel's topic, each
 * `<topic>\n<cursor>\n<frame JSON>`,
 * records joined by `\n` (JSON.stringify never emits a raw newline, so a
 * frame ends at the next one). A node routes a record with three indexOf
 * calls and hands the JSON to uWS publish untouched. A topic line may end in
 * `\t<JSON list of users>` that the frame must skip (see encodeMessage). The
 * cursor line is the inbox cursor of a notification frame, then, on a Redis
 * Cluster, a space and the tenant's previous cursor: such a record is part
 * of its tenant's cursor chain, told on the tenant's order channel
 * (encodeOrder below), and nodes restore cursor order with it
 * (src/realtime/order.ts); on one Redis, records come in cursor order
 * (src/feed/in-order.ts) and name no previous cursor. Empty for other
 * events.
 *
 * Why several records per message: a stored batch of 500 notifications is
 * one PUBLISH instead of 500, which costs Redis, the publisher and every
 * node's subscriber a fraction of the per-message work.
 */
export interface RealtimeMessage {
  topic: string;
  cursor: string;
  /** the tenant's cursor before this one ('' when not sent) */
  prev: string;
  frame: string;
}

/**
 * `except` (rare: see src/domain/inbox/exclusions.ts) names users of the topic the
 * frame must not reach; it rides on the topic line after a tab, as JSON.
 */
export function encodeMessage(topic: string, cursor: string | null, frame: object, except?: readonly string[], prev?: string | null): string {
  const line = except?.length ? `${topic}\t${JSON.stringify(except)}` : topic;
  const cursorLine = cursor && prev ? `${cursor} ${prev}` : (cursor ?? '');
  return `${line}\n${cursorLine}\n${JSON.stringify(frame)}`;
}

/** Splits a record's topic line into the topic and the users it must not reach (null: everyone). */
export function splitTopicLine(line: string): { topic: string; except: Set<string> | null } {
  const tab = line.indexOf('\t');
  if (tab < 0) return { topic: line, except: null };
  return { topic: line.slice(0, tab), except: new Set(JSON.parse(line.slice(tab + 1)) as string[]) };
}

/** The records of a message, in order. */
export function decodeMessages(raw: string): RealtimeMessage[] {
  const out: RealtimeMessage[] = [];
  let pos = 0;
  while (pos < raw.length) {
    const a = raw.indexOf('\n', pos);
    const b = raw.indexOf('\n', a + 1);
    if (a < 0 || b < 0) break;
    let c = raw.indexOf('\n', b + 1);
    if (c < 0) c = raw.length;
    const [cursor, prev = ''] = raw.slice(a + 1, b).split(' ');
    out.push({ topic: raw.slice(pos, a), cursor, prev, frame: raw.slice(b + 1, c) });
    pos = c + 1;
  }
  return out;
}

/**
 * Calls `onRecord` for each record of a raw message buffer without copying
 * the frames (the node's hot path: uWS publish takes the subarray as is).
 */
export function forEachRecord(msg: Buffer, onRecord: (topic: string, cursorStart: number, cursorEnd: number, frame: Buffer) => void): void {
  let pos = 0;
  while (pos < msg.length) {
    const a = msg.indexOf(10, pos);
    const b = a < 0 ? -1 : msg.indexOf(10, a + 1);
    if (a < 0 || b < 0) return;
    let c = msg.indexOf(10, b + 1);
    if (c < 0) c = msg.length;
    onRecord(msg.toString('utf8', pos, a), a + 1, b, msg.subarray(b + 1, c));
    pos = c + 1;
  }
}

/**
 * A 53-bit hash of a topic, base 36 (at most 11 characters): what an order
 * record says of each notification's topic. A node holding 20,000 topics
 * mistakes another topic for one of its own once in ~10^11 notifications,
 * and then only waits reorderWaitMs; the topic itself would triple the
 * record's size for a bulk send to users with long ids.
 */
export function topicHash(topic: string): string {
  // cyrb53 (public domain): two multiplicative 32-bit lanes
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < topic.length; i++) {
    const ch = topic.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/** One notification of an order record: its cursor, the hash of its topic, the tenant's cursor before it. */
export interface OrderEntry {
  cursor: string;
  hash: string;
  prev: string;
}

/**
 * The order record of one tenant's notifications in one publish, on the
 * tenant's order channel: one line per notification, `<cursor> <topic hash>`,
 * then ` <prev>` where the tenant's previous cursor is not the line before's
 * (the first line, and wherever another process's batch sits between two).
 * `entries` must be in cursor order. A node learns from it which cursors of
 * the tenant exist and which of them it will receive, so it can route its
 * own in cursor order without the rest (src/realtime/order.ts).
 */
export function encodeOrder(entries: readonly OrderEntry[]): string {
  let out = '';
  let last = '';
  for (const e of entries) {
    if (out) out += '\n';
    out += e.prev === last ? `${e.cursor} ${e.hash}` : `${e.cursor} ${e.hash} ${e.prev}`;
    last = e.cursor;
  }
  return out;
}

/** A stretch of a tenant's cursor chain: the cursor before it, then its notifications in order. */
export interface OrderLink {
  prev: string;
  entries: Array<{ cursor: string; hash: string }>;
}

/** The links of an order record, in order (a new one starts at each line that names its prev). */
export function decodeOrder(text: string): OrderLink[] {
  const links: OrderLink[] = [];
  let link: OrderLink | null = null;
  for (const line of text.split('\n')) {
    const [cursor, hash, prev] = line.split(' ');
    if (!cursor || !hash) continue;
    if (prev !== undefined || !link) {
      link = { prev: prev ?? '', entries: [] };
      links.push(link);
    }
    link.entries.push({ cursor, hash });
  }
  return links;
}
