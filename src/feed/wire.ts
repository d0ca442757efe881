/**
 * The Redis pub/sub contract between publishers (ingest worker, api) and
 * realtime nodes, on the realtime channel (src/feed/channels.ts). A
 * message carries one or more records, each `<topic>\n<cursor>\n<frame JSON>`,
 * records joined by `\n` (JSON.stringify never emits a raw newline, so a
 * frame ends at the next one). A node routes a record with three indexOf
 * calls and hands the JSON to uWS publish untouched. A topic line may end in
 * `\t<JSON list of users>` that the frame must skip (see encodeMessage). The
 * cursor line is the inbox cursor of a notification frame, then a space and
 * the tenant's previous cursor when the publisher knows it (nodes restore
 * cursor order with it: src/realtime/order.ts); empty for other events.
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

