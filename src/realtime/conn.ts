import type { Principal } from '../auth/jwt.js';
import type { Sweepable } from './sweeper.js';
import type { WebSocket } from './uws.js';

/** A frame that arrived while its socket was still catching up (see sync.ts). */
export interface BufferedFrame {
  /** the notification's cursor; '' for other events */
  cursor: string;
  frame: Uint8Array;
}

/**
 * One socket's state: the uWS user data, so it lives exactly as long as the
 * socket. Kept small (it is multiplied by every open socket).
 */
export interface Conn extends Sweepable {
  /** node-local id, also this socket's member in the per-user Redis set */
  id: string;
  who: Pick<Principal, 'sub' | 'tenant' | 'roles' | 'stores'>;
  topics: string[];
  /** cursor the client reconnected with (?since=) */
  since: string | null;
  /**
   * 'sync': welcome and replay in progress, live frames buffered;
   * 'seam': replay done, live frames sent one by one unless at or below `seam` (duplicates);
   * 'live': subscribed to its uWS topics; 'closed'
   */
  state: 'sync' | 'seam' | 'live' | 'closed';
  buffered: BufferedFrame[] | null;
  /** the last replayed cursor, while in 'seam' */
  seam: string | null;
  /** ms time the client last sent anything (message, ping or pong) */
  lastSeen: number;
  /** ms time the server last pinged */
  lastPing: number;
  ws: WebSocket<Conn> | null;
  /** resolves a replay waiting for the send buffer to drain */
  onDrain: (() => void) | null;
}

/** Local sockets by topic. Used to buffer frames for syncing sockets and to find slow consumers after a publish. */
export class TopicIndex {
  private map = new Map<string, Set<Conn>>();

  add(conn: Conn): void {
    for (const t of conn.topics) {
      let set = this.map.get(t);
      if (!set) this.map.set(t, (set = new Set()));
      set.add(conn);
    }
  }

  remove(conn: Conn): void {
    for (const t of conn.topics) {
      const set = this.map.get(t);
      if (!set) continue;
      set.delete(conn);
      if (!set.size) this.map.delete(t);
    }
  }

  get(topic: string): Set<Conn> | undefined {
    return this.map.get(topic);
  }
}

/** Compares two decimal cursors (bigint values as strings) without parsing. */
export function compareCursors(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
