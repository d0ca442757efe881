/** What the tabs of one browser say to each other about a user's live connection. */
export type TabMessage =
  /** the leader relays one client event (notification, unread_count, state, recalled, connection) */
  | { t: 'event'; name: string; value: unknown }
  /** the leader's resume cursor moved: the next leader resumes from here */
  | { t: 'cursor'; cursor: string }
  /** a tab joined (or asks to be brought up to date) */
  | { t: 'hello' }
  /** the leader's answer to hello */
  | { t: 'snapshot'; cursor: string | null; unread: number | null; connection: unknown }
  /** a follower's connect(): the leader should (re)open the connection */
  | { t: 'connect' };

export interface TabGroupHandlers {
  /** this tab now holds the lock: it opens the connection and relays */
  lead(): void;
  message(m: TabMessage): void;
}

/** The parts of BroadcastChannel the group uses (typed here: the client is built without the DOM library). */
interface ChannelLike {
  onmessage: ((ev: { data: unknown }) => void) | null;
  postMessage(m: unknown): void;
  close(): void;
}
declare const BroadcastChannel: new (name: string) => ChannelLike;

interface LockManagerLike {
  request(name: string, options: { signal: AbortSignal }, callback: () => Promise<void>): Promise<unknown>;
}

/** The Web Locks manager where the platform has one, and BroadcastChannel: both are needed to share. */
export function tabSharing(): LockManagerLike | null {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  return locks && typeof BroadcastChannel === 'function' ? locks : null;
}

/**
 * The tabs of one origin that show the same user's inbox, sharing one live
 * connection. Each tab asks for the same Web Lock; the browser grants it to
 * one tab at a time, and that tab leads: it holds the socket and relays
 * every event over a BroadcastChannel to the others. When the leading tab
 * closes, crashes or navigates away, the browser releases its lock and
 * grants it to the next waiting tab, which opens the socket from the last
 * cursor the leader relayed: nothing is missed, and every tab deduplicates
 * by id, so nothing is shown twice.
 */
export class TabGroup {
  private readonly channel: ChannelLike;
  private readonly abort = new AbortController();
  private release: (() => void) | null = null;
  private leading = false;

  constructor(name: string, locks: LockManagerLike, private readonly handlers: TabGroupHandlers) {
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (ev) => this.handlers.message(ev.data as TabMessage);
    locks
      .request(name, { signal: this.abort.signal }, () => {
        if (this.abort.signal.aborted) return Promise.resolve();
        this.leading = true;
        this.handlers.lead();
        // held until leave() or until the tab goes away
        return new Promise<void>((resolve) => (this.release = resolve));
      })
      .catch(() => undefined); // aborted by leave() before the lock came
    this.post({ t: 'hello' });
  }

  get leader(): boolean {
    return this.leading;
  }

  post(m: TabMessage): void {
    this.channel.postMessage(m);
  }

  /** Gives up the lead (another tab takes it) or the place in the queue. */
  leave(): void {
    this.leading = false;
    this.abort.abort();
    this.release?.();
    this.channel.close();
  }
}
