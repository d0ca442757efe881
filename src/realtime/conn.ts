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

/**
 * Local sockets by topic. Used to buffer frames for syncing sockets and to
 * find slow consumers after a publish. Most topics (a user's) have one
 * socket, held directly; a Set only once a topic has several.
 */
export class TopicIndex {
  private map = new Map<string, Conn | Set<Conn>>();

  add(conn: Conn): void {
    for (const t of conn.topics) {
      const cur = this.map.get(t);
      if (!cur) this.map.set(t, conn);
      else if (cur instanceof Set) cur.add(conn);
      else if (cur !== conn) this.map.set(t, new Set([cur, conn]));
    }
  }

  remove(conn: Conn): void {
    for (const t of conn.topics) {
      const cur = this.map.get(t);
      if (cur === conn) this.map.delete(t);
      else if (cur instanceof Set) {
        cur.delete(conn);
        if (cur.size === 1) this.map.set(t, cur.values().next().value!);
      }
    }
  }

  /** The sockets of a topic (none: an empty list). */
  get(topic: string): Iterable<Conn> | undefined {
    const cur = this.map.get(topic);
    return cur === undefined ? undefined : cur instanceof Set ? cur : [cur];
  }
}
