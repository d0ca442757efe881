import type {
  CountFilter,
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
import { LiveFeed, type ConnectionEvent, type ConnectionState, type SocketConstructor } from './live-feed.js';
import { TokenSource } from './token-source.js';

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

export interface HeraldEvents extends Record<string, unknown> {
  /** a new notification; each id once, also across reconnects and polling */
  notification: Notification;
  unread_count: number;
  state: StateEvent;
  /** the sender took a notification back: drop it */
  recalled: RecalledEvent;
  connection: ConnectionEvent;
}

const STATE_PREFIX = 'notification.';

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

  constructor(options: HeraldClientOptions) {
    const tokens = new TokenSource(options.token, options.getToken);
    const fetchFn = options.fetch ?? (globalThis.fetch?.bind(globalThis) as unknown as FetchLike | undefined);
    if (!fetchFn) throw new TypeError('HeraldClient needs fetch: pass options.fetch');
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
    if (!WebSocketClass) throw new TypeError('HeraldClient needs a WebSocket class: pass options.WebSocket (in Node 20, the ws package)');
    const base = options.apiUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '') + '/api/v1';
    this.api = new HttpApi(base, fetchFn, tokens);
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
        notification: (n) => this.events.emit('notification', n),
        unreadCount: (n) => this.events.emit('unread_count', n),
        connection: (e) => this.events.emit('connection', e),
        frame: (frame) => this.onFrame(frame),
      },
    );
    // a microtask later, so listeners added right after construction see the first `connecting`
    if (options.connect !== false) queueMicrotask(() => this.feed.start());
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof HeraldEvents>(name: K, fn: (value: HeraldEvents[K]) => void): () => void {
    return this.events.on(name, fn);
  }

  /** Opens the live connection: with `connect: false`, or to try again after the server closed it for too many sockets. */
  connect(): void {
    this.feed.start();
  }

  /** The live connection's state now. */
  get connection(): ConnectionState {
    return this.feed.connection;
  }

  /** Ends the live connection and drops every listener; HTTP methods keep working. */
  close(): void {
    this.feed.stop();
    this.events.clear();
  }

  list(query: ListQuery = {}): Promise<InboxPage> {
    return this.api.request('GET', '/notifications', { query: query as Record<string, QueryValue> });
  }

  /** Several counts in one call, one per filter, in order: e.g. `[{ read: false }, { seen: false }]`. */
  async count(filters: CountFilter[]): Promise<number[]> {
    const r = await this.api.request<{ counts: number[] }>('GET', '/notifications/count', { query: { filters: JSON.stringify(filters) } });
    return r.counts;
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

  /** Hides a notification until `until`; then it comes back unread. */
  snooze(id: string, until: Date | string): Promise<Snoozed> {
    const body = { until: until instanceof Date ? until.toISOString() : until };
    return this.api.request('PUT', `/notifications/${enc(id)}/snooze`, { body });
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

  /** Lets mobile push reach this device. */
  registerPushToken(token: string, platform: PushPlatform): Promise<PushTokens> {
    return this.api.request('PUT', '/me/push-tokens', { body: { token, platform } });
  }

  private onFrame(frame: { event: string } & Record<string, unknown>): void {
    if (frame.event === 'notification.recalled') {
      this.events.emit('recalled', { id: String(frame.id), group_key: (frame.group_key as string | null) ?? null });
      return;
    }
    if (!frame.event.startsWith(STATE_PREFIX) || !Array.isArray(frame.ids)) return;
    this.events.emit('state', { ...frame, event: frame.event.slice(STATE_PREFIX.length), ids: frame.ids as string[] });
  }
}

const enc = encodeURIComponent;
