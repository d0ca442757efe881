import { websocketConnections } from '../metrics/metrics.js';
import { TopicIndex, type Conn } from './conn.js';
import type { Subscriptions } from './subscriptions.js';
import type { Sweeper } from './sweeper.js';
import type { WebSocket } from './uws.js';

/**
 * The node's open sockets, the one piece of state its parts share:
 * admission adds and removes them, fan-out finds a topic's sockets (frames
 * that skip some users, slow consumers, the buffers of sockets still
 * catching up), the control channel and shutdown find them by id. The feed
 * channels a socket needs are taken with it and let go with it.
 */
export class Sockets {
  /** by id: the second half of a socket's member in its user's Redis set */
  readonly byId = new Map<string, Conn>();
  /** every socket, by topic */
  readonly byTopic = new TopicIndex();
  /** sockets still catching up ('sync' or 'seam'), by topic: their live frames are buffered or checked against the seam */
  readonly syncing = new TopicIndex();

  /**
   * `sweeper`: visits every open socket (heartbeats, idle and slow-consumer checks);
   * `subscriptions`: the feed channels the node listens to
   */
  constructor(
    private readonly sweeper: Sweeper<Conn>,
    private readonly subscriptions: Subscriptions,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  /** A socket just opened: from now on its live frames are buffered until its catch-up ends. */
  add(conn: Conn, ws: WebSocket<Conn>): void {
    conn.ws = ws;
    conn.lastSeen = conn.lastPing = Date.now();
    this.byId.set(conn.id, conn);
    this.byTopic.add(conn);
    this.syncing.add(conn);
    this.subscriptions.hold(conn);
    this.sweeper.add(conn);
    // inc/dec rather than set: several nodes in one process (tests) add up
    websocketConnections.inc();
  }

  /** Resolves once Redis has confirmed the feed channels of these sockets: their catch-up may start. */
  whenSubscribed(conns: readonly Conn[]): Promise<void> {
    return this.subscriptions.whenSubscribed(conns);
  }

  /** Hands a socket to its uWS topics: from here on frames reach it with no JavaScript per socket. */
  goLive(conn: Conn): void {
    const ws = conn.ws;
    if (!ws || (conn.state !== 'sync' && conn.state !== 'seam')) return;
    for (const t of conn.topics) ws.subscribe(t);
    this.syncing.remove(conn);
    conn.state = 'live';
    conn.seam = null;
  }

  /** A socket closed: forgotten everywhere, and a replay waiting for its buffer to drain is let go. */
  remove(conn: Conn): void {
    const wasSyncing = conn.state === 'sync' || conn.state === 'seam';
    conn.state = 'closed';
    conn.ws = null;
    conn.buffered = null;
    this.byId.delete(conn.id);
    this.byTopic.remove(conn);
    if (wasSyncing) this.syncing.remove(conn);
    this.subscriptions.release(conn);
    this.sweeper.remove(conn);
    conn.onDrain?.();
    websocketConnections.dec();
  }

  /** Any open socket (one lends its cork to a late upgrade: see admission.ts), or null. */
  anyOpen(): WebSocket<Conn> | null {
    for (const conn of this.byId.values()) if (conn.ws && conn.state !== 'closed') return conn.ws;
    return null;
  }

  /** A snapshot of the open sockets, safe to close them while iterating. */
  all(): Conn[] {
    return [...this.byId.values()];
  }
}
