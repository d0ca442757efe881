import type {
  ActionTaken,
  BatchAction,
  BatchMarked,
  CountFilter,
  GroupList,
  InboxStats,
  Me,
  UnreadCount,
  Done,
  InboxPage,
  ListQuery,
  MarkedAll,
  Notification,
  Preferences,
  PreferencesPut,
  PushPlatform,
  PushTokens,
  ReadAll,
  Snoozed,
} from './api-types.js';
import { backoffFrom, type ReconnectOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { HttpApi, type FetchLike, type QueryValue } from './http.js';
import { InboxCache, type StorageLike } from './inbox-cache.js';
import { LiveFeed, type ConnectionEvent, type ConnectionState, type SocketConstructor } from './live-feed.js';
import { RecentIds } from './recent-ids.js';
import { TabGroup, tabSharing, type TabMessage } from './tab-group.js';
import { TokenSource } from './token-source.js';
import { userKey } from './user-key.js';

export interface HeraldClientOptions {
  /** the api's origin, e.g. `https://herald.example.com` (a trailing `/api/v1` is accepted) */
  apiUrl: string;
  /** the realtime endpoint, e.g. `wss://herald.example.com/api/v1/ws` */
  wsUrl: string;
  /** a user token (JWT); without it the client asks getToken */
  token?: string;
  /** returns a fresh token: called when there is none, and once after the server refuses the current one */
  getToken?: () => string | Promise<string>;
  /** the WebSocket class (default: the global one; Node 20 has none, pass the `ws` package's) */
  WebSocket?: SocketConstructor;
  /** the fetch function (default: the global one) */
  fetch?: FetchLike;
  /** reconnect delays: full jitter under initialMs × factor^attempt, at most maxMs (defaults 3000, 1.5, 30000) */
  reconnect?: ReconnectOptions;
  /** how often to poll over HTTP while WebSockets are blocked, ms (default 15000) */
  pollIntervalMs?: number;
  /** sockets refused in a row before WebSockets count as blocked and polling starts (default 3) */
  blockedAfter?: number;
  /** open the live connection on construction (default true); with false, call connect() */
  connect?: boolean;
  /**
   * share one live connection among the tabs of this browser that show the same user (default: true
   * where the page has Web Locks and BroadcastChannel): one tab leads and relays, the others follow
   */
  shareTabs?: boolean;
  /** where the last 100 inbox notifications are kept across reloads (default: localStorage where there is one; null: memory only) */
  storage?: StorageLike | null;
}

/** A change the user made to notifications (on any device): `event` is read, unread, deleted, seen, archived, unarchived, snoozed or unsnoozed. */
export interface StateEvent {
  event: string;
  ids: string[];
  /** snoozed: when it comes back */
  snoozed_until?: string;
  /** unarchived, unsnoozed: the notification as the user now sees it */
  notification?: Notification;
  [key: string]: unknown;
}

export interface RecalledEvent {
  id: string;
  group_key: string | null;
}

export interface HeraldEvents {
  /** a new notification; each id once, also across reconnects and polling */
  notification: Notification;
  unread_count: number;
  state: StateEvent;
  /** the sender took a notification back: drop it */
  recalled: RecalledEvent;
  connection: ConnectionEvent;
}

const STATE_PREFIX = 'notification.';
/** Longest wait before re-reading the count after a recall of a notification the cache does not hold. */
const RECOUNT_JITTER_MS = 3000;
/** List queries whose answer is a page of the default inbox (the cache keeps that list). */
const INBOX_PAGE_KEYS = new Set(['cursor', 'limit']);

/**
 * Herald's client for browsers and Node ≥ 20: the user's inbox over HTTP and
 * its live events over a WebSocket (or HTTP polling where WebSockets are
 * blocked). The live connection opens on construction unless
 * `connect: false`; `close()` ends it. Every HTTP method answers the api's
 * JSON or throws a HeraldError.
 */
export class HeraldClient {
  private readonly events = new Emitter<HeraldEvents>();
  private readonly api: HttpApi;
  private readonly feed: LiveFeed;
  private readonly tokens: TokenSource;
  private readonly inbox: InboxCache;
  private readonly groupName: string;
  /** the tabs sharing this user's connection, once joined; null where the page cannot share */
  private group: TabGroup | null = null;
  private joining: Promise<void> | null = null;
  private readonly share: boolean;
  private closed = false;
  /** what this tab has shown and where the connection stands, so it can take over as leader */
  private readonly shown = new RecentIds();
  private cursor: string | null = null;
  private lastUnread: number | null = null;
  /** the last connection event shown (null before the first) */
  private followed: ConnectionEvent | null = null;

  constructor(options: HeraldClientOptions) {
    const tokens = (this.tokens = new TokenSource(options.token, options.getToken));
    const fetchFn = options.fetch ?? (globalThis.fetch?.bind(globalThis) as unknown as FetchLike | undefined);
    if (!fetchFn) throw new TypeError('HeraldClient needs fetch: pass options.fetch');
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
    if (!WebSocketClass) throw new TypeError('HeraldClient needs a WebSocket class: pass options.WebSocket (in Node 20, the ws package)');
    const base = options.apiUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '') + '/api/v1';
    this.api = new HttpApi(base, fetchFn, tokens);
    this.inbox = new InboxCache(options.storage === undefined ? defaultStorage() : options.storage);
    this.share = options.shareTabs ?? true;
    this.groupName = `herald:${options.wsUrl}:`;
    const user = options.token ? userKey(options.token) : null;
    if (user) this.inbox.open(user);
    this.feed = new LiveFeed(
      {
        wsUrl: options.wsUrl,
        WebSocket: WebSocketClass,
        api: this.api,
        tokens,
        backoff: backoffFrom(options.reconnect),
        pollIntervalMs: options.pollIntervalMs ?? 15000,
        blockedAfter: options.blockedAfter ?? 3,
      },
      {
        notification: (n) => this.publish('notification', n),
        unreadCount: (n) => this.publish('unread_count', n),
        connection: (e) => this.publish('connection', e),
        frame: (frame) => this.onFrame(frame),
        cursor: (c) => {
          this.cursor = c;
          if (this.group?.leader) this.group.post({ t: 'cursor', cursor: c });
        },
      },
    );
    // a microtask later, so listeners added right after construction see the first `connecting`
    if (options.connect !== false) queueMicrotask(() => this.connect());
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof HeraldEvents>(name: K, fn: (value: HeraldEvents[K]) => void): () => void {
    return this.events.on(name, fn);
  }

  /** Opens the live connection: with `connect: false`, or to try again after the server closed it for too many sockets. */
  connect(): void {
    if (this.closed) return;
    const locks = this.share ? tabSharing() : null;
    if (!locks) return this.feed.start();
    if (this.group) return this.group.leader ? this.feed.start() : this.group.post({ t: 'connect' });
    this.joining ??= this.join(locks);
  }

  /** Whether this client holds the live connection itself (false in a tab that follows another tab's). */
  get leader(): boolean {
    return !this.group || this.group.leader;
  }

  /** The live connection's state now (in a tab that follows another, the leading tab's). */
  get connection(): ConnectionState {
    return this.group && !this.group.leader ? (this.followed?.state ?? 'connecting') : this.feed.connection;
  }

  /**
   * The newest notifications of the inbox (at most 100, newest first) as
   * last seen: kept across reloads in localStorage, so a page can show them
   * before the first list() answers. Empty until the user is known (with
   * only getToken, after the first token).
   */
  cached(): Notification[] {
    return this.inbox.list();
  }

  /** Forgets the cached inbox, here and in localStorage (call it when the user signs out). */
  clearCache(): void {
    this.inbox.clear();
  }

  /** Ends the live connection (another tab takes it over) and drops every listener; HTTP methods keep working. */
  close(): void {
    this.closed = true;
    const group = this.group;
    this.group = null;
    group?.leave();
    this.feed.stop();
    this.events.clear();
  }

  /**
   * One page of the inbox: the api's filters and pagings, and `q` to search titles and contents.
   * Only an unfiltered page (`limit`, `cursor`) refreshes the cached inbox; a search page does not.
   */
  async list(query: ListQuery = {}): Promise<InboxPage> {
    const page = await this.api.request<InboxPage>('GET', '/notifications', { query: query as Record<string, QueryValue> });
    if (Object.keys(query).every((k) => INBOX_PAGE_KEYS.has(k))) this.inbox.page(page.notifications, query.cursor === undefined);
    return page;
  }

  /** Several counts in one call, one per filter, in order: e.g. `[{ read: false }, { seen: false }]`. */
  async count(filters: CountFilter[]): Promise<number[]> {
    const r = await this.api.request<{ counts: number[] }>('GET', '/notifications/count', { query: { filters: JSON.stringify(filters) } });
    return r.counts;
  }

  /** The unread count alone (the live `unread_count` event keeps it current without asking). */
  async unreadCount(): Promise<number> {
    return (await this.api.request<UnreadCount>('GET', '/notifications/unread-count')).unread_count;
  }

  /** Counts by type, priority and state. */
  stats(): Promise<InboxStats> {
    return this.api.request('GET', '/notifications/stats');
  }

  /** The inbox folded by group key: one entry per group with its count and newest notification. */
  grouped(limit?: number): Promise<GroupList> {
    return this.api.request('GET', '/notifications/grouped', { query: limit === undefined ? {} : { limit } });
  }

  /** Who the token is, with unread and unseen counts: what an app needs to boot in one call. */
  me(): Promise<Me> {
    return this.api.request('GET', '/me');
  }

  get(id: string): Promise<Notification> {
    return this.api.request('GET', `/notifications/${enc(id)}`);
  }

  read(id: string): Promise<Done> {
    return this.api.request('PUT', `/notifications/${enc(id)}/read`);
  }

  unread(id: string): Promise<Done> {
    return this.api.request('PUT', `/notifications/${enc(id)}/unread`);
  }

  readAll(): Promise<ReadAll> {
    return this.api.request('POST', '/notifications/read-all');
  }

  seen(id: string): Promise<Done> {
    return this.api.request('PUT', `/notifications/${enc(id)}/seen`);
  }

  seenAll(): Promise<MarkedAll> {
    return this.api.request('POST', '/notifications/seen-all');
  }

  archive(id: string): Promise<Done> {
    return this.api.request('PUT', `/notifications/${enc(id)}/archive`);
  }

  unarchive(id: string): Promise<Done> {
    return this.api.request('PUT', `/notifications/${enc(id)}/unarchive`);
  }

  archiveAll(): Promise<MarkedAll> {
    return this.api.request('POST', '/notifications/archive-all');
  }

  /** Archives every read notification. */
  archiveRead(): Promise<MarkedAll> {
    return this.api.request('POST', '/notifications/archive-read');
  }

  /** Marks several notifications read or unread, or deletes them. */
  batch(ids: string[], action: BatchAction): Promise<BatchMarked> {
    return this.api.request('POST', '/notifications/batch-mark', { body: { ids, action } });
  }

  /** Hides a notification until `until`; then it comes back unread. */
  snooze(id: string, until: Date | string): Promise<Snoozed> {
    const body = { until: until instanceof Date ? until.toISOString() : until };
    return this.api.request('PUT', `/notifications/${enc(id)}/snooze`, { body });
  }

  /** Brings a snoozed notification back now. */
  unsnooze(id: string): Promise<Done> {
    return this.api.request('PUT', `/notifications/${enc(id)}/unsnooze`);
  }

  /** Deletes a notification from this user's inbox. */
  remove(id: string): Promise<Done> {
    return this.api.request('DELETE', `/notifications/${enc(id)}`);
  }

  preferences(): Promise<Preferences> {
    return this.api.request('GET', '/preferences');
  }

  setPreferences(preferences: PreferencesPut): Promise<Preferences> {
    return this.api.request('PUT', '/preferences', { body: preferences });
  }

  /** Records that the user took the notification's action `n` (from 0); the app then opens the action's url. */
  action(id: string, n: number): Promise<ActionTaken> {
    return this.api.request('POST', `/notifications/${enc(id)}/actions/${n}`);
  }

  /** Lets mobile push reach this device. */
  registerPushToken(token: string, platform: PushPlatform): Promise<PushTokens> {
    return this.api.request('PUT', '/me/push-tokens', { body: { token, platform } });
  }

  /** Stops mobile push to this device (e.g. on sign-out). */
  unregisterPushToken(token: string): Promise<Done> {
    return this.api.request('DELETE', `/me/push-tokens/${enc(token)}`);
  }

  private onFrame(frame: { event: string } & Record<string, unknown>): void {
    if (frame.event === 'notification.recalled') {
      const id = String(frame.id);
      this.lowerCountFor(id);
      this.publish('recalled', { id, group_key: (frame.group_key as string | null) ?? null });
      return;
    }
    if (!frame.event.startsWith(STATE_PREFIX) || !Array.isArray(frame.ids)) return;
    this.publish('state', { ...frame, event: frame.event.slice(STATE_PREFIX.length), ids: frame.ids as string[] });
  }

  /**
   * A recall goes to a whole audience, so the server sends no per-user count with it: an unread
   * notification the cache knows lowers the count here; one it does not know (older than the
   * cache) makes the client ask the api, after a jittered delay so a recall sent to thousands of
   * users does not arrive at the api as thousands of requests at once.
   */
  private lowerCountFor(id: string): void {
    const known = this.inbox.find(id);
    const count = this.feed.unreadCount;
    if (count === null || (known && known.is_read)) return;
    if (known) return this.feed.setUnreadCount(Math.max(0, count - 1));
    setTimeout(() => {
      this.api.request<{ unread_count: number }>('GET', '/notifications/unread-count').then(
        (r) => this.feed.setUnreadCount(r.unread_count),
        () => undefined, // the next welcome or poll brings the count
      );
    }, Math.random() * RECOUNT_JITTER_MS);
  }

  /** Shows an event in this tab and, when this tab leads, in the others. */
  private publish<K extends keyof HeraldEvents>(name: K, value: HeraldEvents[K]): void {
    if (this.group?.leader) this.group.post({ t: 'event', name: name as string, value });
    this.show(name, value);
  }

  private show<K extends keyof HeraldEvents>(name: K, value: HeraldEvents[K]): void {
    if (name === 'notification') {
      const n = value as Notification;
      if (!this.shown.add(n.id)) return;
      this.inbox.add(n);
    } else if (name === 'unread_count') this.lastUnread = value as number;
    else if (name === 'state') this.followState(value as StateEvent);
    else if (name === 'recalled') this.inbox.remove([(value as RecalledEvent).id]);
    else if (name === 'connection') {
      const e = value as ConnectionEvent;
      if (e.state === this.followed?.state && e.state !== 'offline') return;
      this.followed = e;
    }
    this.events.emit(name, value);
  }

  /** Keeps the cache in step with a change the user made on some device. */
  private followState(e: StateEvent): void {
    const now = new Date().toISOString();
    if (e.event === 'read') this.inbox.update(e.ids, { is_read: true, read_at: now, is_seen: true });
    else if (e.event === 'unread') this.inbox.update(e.ids, { is_read: false, read_at: null });
    else if (e.event === 'seen') this.inbox.update(e.ids, { is_seen: true });
    else if (e.event === 'archived' || e.event === 'snoozed' || e.event === 'deleted') this.inbox.remove(e.ids);
    else if (e.notification) this.inbox.add(e.notification);
  }

  private async join(locks: NonNullable<ReturnType<typeof tabSharing>>): Promise<void> {
    let user: string | null = null;
    try {
      user = userKey(await this.tokens.current());
    } catch {
      // no token yet: the feed reports it and keeps asking
    }
    if (this.closed) return;
    if (!user) return this.feed.start(); // not a JWT this client can read: no sharing, a socket of its own
    this.inbox.open(user);
    this.show('connection', { state: 'connecting' });
    this.group = new TabGroup(this.groupName + user, locks, {
      lead: () => {
        // take over where the last leader stopped: resume after its cursor, skip what was shown
        this.feed.seed(this.cursor, this.shown.values());
        this.feed.start();
      },
      message: (m) => this.onTabMessage(m),
    });
  }

  private onTabMessage(m: TabMessage): void {
    const group = this.group;
    if (!group) return;
    if (group.leader) {
      if (m.t === 'hello') group.post({ t: 'snapshot', cursor: this.feed.resumeCursor, unread: this.lastUnread, connection: this.feed.connection === 'offline' ? this.followed : { state: this.feed.connection } });
      else if (m.t === 'connect') this.feed.start();
      return;
    }
    if (m.t === 'event') this.show(m.name as keyof HeraldEvents, m.value as never);
    else if (m.t === 'cursor') this.cursor = m.cursor;
    else if (m.t === 'snapshot') {
      if (m.cursor !== null && this.cursor === null) this.cursor = m.cursor;
      if (m.unread !== null && m.unread !== this.lastUnread) this.show('unread_count', m.unread);
      const c = m.connection as ConnectionEvent;
      if (c?.state && c.state !== this.followed?.state) this.show('connection', c);
    }
  }
}

function defaultStorage(): StorageLike | null {
  try {
    return (globalThis as { localStorage?: StorageLike }).localStorage ?? null;
  } catch {
    return null; // a sandboxed frame throws on access
  }
}

const enc = encodeURIComponent;
