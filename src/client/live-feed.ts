import type { InboxPage, Notification } from './api-types.js';
import { delayFor, type Backoff } from './backoff.js';
import { cursorAfter } from './cursors.js';
import type { HttpApi } from './http.js';
import { RecentIds } from './recent-ids.js';
import type { TokenSource } from './token-source.js';

/** The parts of a WebSocket the feed uses; the browser's and the `ws` package's both fit. */
export interface SocketLike {
  // The event parameters are `any`: browsers and the `ws` package type their events differently.
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type SocketConstructor = new (url: string) => SocketLike;

export type ConnectionState = 'connecting' | 'open' | 'polling' | 'offline';
export interface ConnectionEvent {
  state: ConnectionState;
  /** why the feed is offline or polling */
  reason?: string;
  /** the close code that led here, when a socket closed */
  code?: number;
}

/** What the feed reports to its owner. */
export interface FeedSink {
  notification(n: Notification): void;
  frame(frame: { event: string } & Record<string, unknown>): void;
  unreadCount(n: number): void;
  connection(e: ConnectionEvent): void;
  /** the resume cursor moved */
  cursor(c: string): void;
}

export interface FeedOptions {
  wsUrl: string;
  WebSocket: SocketConstructor;
  api: HttpApi;
  tokens: TokenSource;
  backoff: Backoff;
  pollIntervalMs: number;
  /** consecutive sockets closed before they opened after which WebSockets count as blocked */
  blockedAfter: number;
}

/** The server closes with this when the user has too many sockets: another tab or device took the slot. */
const TOO_MANY_SOCKETS = 4001;
/** Most rows one poll page asks for (the api's page-size limit). */
const POLL_PAGE = 100;

/**
 * The live side of the client: one WebSocket, resumed after every drop with
 * `?since=` the highest cursor seen, so nothing is missed; every
 * notification reaches the owner once, however often a replay or a poll
 * brings it again.
 *
 * - A socket that drops is reopened after a jittered, growing delay; one
 *   that stayed open `stableMs` starts the next outage from the first delay.
 * - A socket closed before it opened was refused at upgrade (browsers show
 *   no status, only an error then a close): the first such refusal asks
 *   `getToken()` for a fresh token and retries at once.
 * - `blockedAfter` refusals in a row mean something between us and the
 *   server refuses WebSockets (a proxy answering 403 or 426): the feed polls
 *   GET /notifications?since= every pollIntervalMs and keeps trying the
 *   socket on the backoff schedule; the first socket that opens ends the
 *   polling and resumes from the same cursor.
 * - Close code 4001 means the user has too many sockets open elsewhere:
 *   reconnecting would only close another one, so the feed goes offline.
 */
export class LiveFeed {
  private socket: SocketLike | null = null;
  private cursor: string | null = null;
  private readonly seen = new RecentIds();
  private attempt = 0;
  private refusals = 0;
  private refreshedToken = false;
  private state: ConnectionState | null = null;
  /** not connecting: before start(), after 4001 (start() begins again) or after close() (final) */
  private stopped = true;
  private final = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private stableTimer: ReturnType<typeof setTimeout> | undefined;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private polling = false;
  private lastCount: number | null = null;
  private startingPoint: Promise<void> | null = null;
  /** the token the last socket was opened with */
  private usedToken: string | null = null;
  /** the welcome's cursor: its unread count already includes every notification up to it */
  private countedUpTo: string | null = null;

  constructor(
    private readonly o: FeedOptions,
    private readonly sink: FeedSink,
  ) {}

  get connection(): ConnectionState {
    return this.state ?? 'offline';
  }

  /** The highest cursor delivered: where the next connection resumes. */
  get resumeCursor(): string | null {
    return this.cursor;
  }

  /**
   * Takes over from another tab's connection before start(): resume after
   * `cursor` and treat `ids` as already delivered.
   */
  seed(cursor: string | null, ids: Iterable<string>): void {
    if (cursor !== null) this.moveCursor(cursor);
    for (const id of ids) this.seen.add(id);
  }

  start(): void {
    if (this.final || !this.stopped) return;
    this.stopped = false;
    this.attempt = this.refusals = 0;
    void this.open();
  }

  /** Ends the connection; with `final` (close()) for good, else until start(). */
  stop(reason = 'closed', final = true): void {
    this.final ||= final;
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    this.polling = false;
    const s = this.socket;
    this.socket = null;
    if (s) {
      detach(s);
      s.close(1000, reason);
    }
    this.setState({ state: 'offline', reason });
  }

  private async open(): Promise<void> {
    this.retryTimer = undefined;
    if (this.stopped) return;
    if (!this.polling) this.setState({ state: 'connecting' });
    let url: string;
    try {
      this.usedToken = await this.o.tokens.current();
      url = this.socketUrl(this.usedToken);
    } catch (err) {
      return this.failedBeforeOpen(`no token: ${(err as Error).message}`);
    }
    if (this.stopped) return;
    let opened = false;
    const s = new this.o.WebSocket(url);
    this.socket = s;
    s.onopen = () => {
      opened = true;
      this.refusals = 0;
      this.refreshedToken = false;
      this.stopPolling();
      this.setState({ state: 'open' });
      this.stableTimer = setTimeout(() => (this.attempt = 0), this.o.backoff.stableMs);
    };
    s.onmessage = (ev: { data: unknown }) => this.onFrame(String(ev.data));
    // an error is always followed by a close, which decides what happens next
    s.onerror = () => undefined;
    s.onclose = (ev: { code?: number; reason?: string }) => {
      detach(s);
      if (this.socket !== s) return;
      this.socket = null;
      clearTimeout(this.stableTimer);
      if (opened) this.closedAfterOpen(ev.code ?? 1006, ev.reason ?? '');
      else this.failedBeforeOpen(`upgrade refused (close ${ev.code ?? 1006})`);
    };
  }

  private socketUrl(token: string): string {
    const url = new URL(this.o.wsUrl);
    url.searchParams.set('token', token);
    if (this.cursor !== null) url.searchParams.set('since', this.cursor);
    return url.toString();
  }

  private closedAfterOpen(code: number, reason: string): void {
    if (code === TOO_MANY_SOCKETS) return this.stop(reason || 'too many connections', false);
    this.setState({ state: 'connecting', code, reason });
    this.retryLater();
  }

  private failedBeforeOpen(reason: string): void {
    if (this.stopped) return;
    this.refusals++;
    void this.fixStart();
    if (!this.refreshedToken && this.o.tokens.canRefresh) {
      // an expired token is the usual refusal: one fresh token, then retry at once
      this.refreshedToken = true;
      const refused = this.usedToken;
      (refused === null ? this.o.tokens.refresh() : this.o.tokens.refreshIfStill(refused)).then(
        () => this.open(),
        () => this.failedBeforeOpen('getToken failed'),
      );
      return;
    }
    if (this.refusals >= this.o.blockedAfter && !this.polling) this.startPolling(reason);
    this.retryLater();
  }

  private retryLater(): void {
    if (this.stopped) return;
    const delay = delayFor(this.o.backoff, this.attempt++);
    this.retryTimer = setTimeout(() => void this.open(), delay);
  }

  private onFrame(text: string): void {
    let frame: { event?: unknown } & Record<string, unknown>;
    try {
      frame = JSON.parse(text);
    } catch {
      return; // every frame is JSON: ignore anything else
    }
    if (typeof frame?.event !== 'string') return;
    if (frame.event === 'welcome') {
      // The welcome's cursor is the inbox head when the socket opened. Adopt it only on a first
      // connection: on a resumed one the replay that follows is still below it, and a drop in the
      // middle of that replay must resume from the last replayed row, not skip the rest.
      if (this.cursor === null && typeof frame.cursor === 'string') this.moveCursor(frame.cursor);
      this.countedUpTo = typeof frame.cursor === 'string' ? frame.cursor : null;
      if (typeof frame.unread_count === 'number') this.count(frame.unread_count);
      return;
    }
    if (frame.event === 'notification') return this.deliver(frame as unknown as Notification, true);
    if (frame.event === 'unread_count') {
      if (typeof frame.unread_count === 'number') this.count(frame.unread_count);
      return;
    }
    this.sink.frame(frame as { event: string } & Record<string, unknown>);
  }

  /**
   * Hands a notification to the owner unless it came before. The server sends no count with a
   * new notification (one send may reach a whole role), so a new unread one on the socket raises
   * the count here; one the welcome's count already includes (a replayed row) does not. A poll
   * reads the count itself.
   */
  private deliver(n: Notification, onSocket: boolean): void {
    if (typeof n.cursor === 'string') this.moveCursor(n.cursor);
    if (!this.seen.add(n.id)) return;
    const { event: _event, ...notification } = n as Notification & { event?: string };
    this.sink.notification(notification as Notification);
    const uncounted = typeof n.cursor !== 'string' || cursorAfter(n.cursor, this.countedUpTo);
    if (onSocket && !n.is_read && uncounted && this.lastCount !== null) this.count(this.lastCount + 1);
  }

  /** The unread count changed for a reason the server does not count for (a recall); null: unknown yet. */
  get unreadCount(): number | null {
    return this.lastCount;
  }

  setUnreadCount(n: number): void {
    if (n !== this.lastCount) this.count(n);
  }

  private moveCursor(c: string): void {
    if (!cursorAfter(c, this.cursor)) return;
    this.cursor = c;
    this.sink.cursor(c);
  }

  private count(n: number): void {
    this.lastCount = n;
    this.sink.unreadCount(n);
  }

  /**
   * A feed whose socket never opened has no cursor (a socket's welcome gives the first one). As
   * soon as a socket fails, the inbox's newest row becomes the start: whatever is stored after
   * it reaches the user through the next socket's `since=` or the polls, however long the
   * retries take. Without it, notifications stored between the failure and the first poll would
   * fall before the start and never be shown live.
   */
  private fixStart(): Promise<void> {
    if (this.cursor !== null) return Promise.resolve();
    this.startingPoint ??= this.o.api
      .request<InboxPage>('GET', '/notifications', { query: { limit: 1 } })
      .then((head) => {
        if (this.cursor === null) this.moveCursor(head.notifications[0]?.cursor ?? '0');
      })
      .catch(() => undefined) // the api is unreachable too: the next failure or poll tries again
      .finally(() => (this.startingPoint = null));
    return this.startingPoint;
  }

  private startPolling(reason: string): void {
    this.polling = true;
    // report polling only once the start is fixed: a send the app makes on seeing it is then after the start
    void this.fixStart().then(() => {
      if (!this.polling || this.stopped) return;
      this.setState({ state: 'polling', reason });
      void this.poll();
    });
  }

  private stopPolling(): void {
    this.polling = false;
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  private async poll(): Promise<void> {
    this.pollTimer = undefined;
    try {
      // like a first socket: start at the inbox's newest row, do not replay the whole inbox
      await this.fixStart();
      if (this.cursor === null) throw new Error('no start yet');
      for (let more = true; more && this.polling; ) {
        const page = await this.o.api.request<InboxPage>('GET', '/notifications', { query: { since: this.cursor!, limit: POLL_PAGE } });
        if (!this.polling) return;
        for (const n of page.notifications) this.deliver(n, false);
        more = page.notifications.length === POLL_PAGE;
      }
      const { unread_count } = await this.o.api.request<{ unread_count: number }>('GET', '/notifications/unread-count');
      if (this.polling && unread_count !== this.lastCount) this.count(unread_count);
    } catch {
      // the api is unreachable too: keep polling, the next round may get through
    }
    if (this.polling && !this.stopped) this.pollTimer = setTimeout(() => void this.poll(), this.o.pollIntervalMs);
  }

  private setState(e: ConnectionEvent): void {
    if (e.state === this.state && e.state !== 'offline') return;
    this.state = e.state;
    this.sink.connection(e);
  }

  private clearTimers(): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.stableTimer);
    clearTimeout(this.pollTimer);
    this.retryTimer = this.pollTimer = undefined;
  }
}

function detach(s: SocketLike): void {
  s.onopen = s.onmessage = s.onclose = null;
  // keep an error handler: the `ws` package throws an error event nobody listens to
  s.onerror = () => undefined;
}
