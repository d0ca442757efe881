/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import type { ListQuery, Notification } from '../api-types.js';
import { cursorAfter } from '../cursors.js';
import { HeraldClient, type StateEvent } from '../herald-client.js';
import type { ConnectionState } from '../live-feed.js';
import { Alerts } from './alerts.js';
import { h } from './dom.js';
import { preferencesView } from './preferences-view.js';
import { relativeTime } from './relative-time.js';
import { safeUrl } from './safe-url.js';
import { fromLocalInput, inAnHour, tomorrowMorning } from './snooze-times.js';
import { pickLocale, stringsFor, type Strings, type WidgetLocale } from './strings.js';
import { adoptStyles } from './styles.js';

type Tab = 'all' | 'unread' | 'archived';
const TABS: Tab[] = ['all', 'unread', 'archived'];
const QUERIES: Record<Tab, ListQuery> = { all: {}, unread: { is_read: false }, archived: { archived: true } };
const PAGE = 20;
/** Toasts on screen at once; an older one makes room. */
const TOASTS = 3;
const TOAST_MS = 6000;
const noop = () => undefined;

/** Where a notification belongs, as the api's list filters define the tabs. */
function fits(n: Notification, tab: Tab): boolean {
  if (n.snoozed_until && Date.parse(n.snoozed_until) > Date.now()) return false;
  if (tab === 'archived') return n.is_archived;
  return !n.is_archived && (tab === 'all' || !n.is_read);
}

/** Newest first, by inbox cursor; a notification without one (not yet in inboxes) goes on top. */
/** A notification arriving this soon after a count from the api may be in it already: it is counted again rather than added. */
const RECOUNT_AFTER_COUNT_MS = 3000;

const newer = (a: Notification, b: Notification) => a.cursor === null || (b.cursor !== null && cursorAfter(a.cursor, b.cursor));

// Lets the bundle be imported where there is no DOM (a server render, a test in Node) without throwing.
const Base = (typeof HTMLElement === 'undefined' ? class {} : HTMLElement) as typeof HTMLElement;

/**
 * `<herald-inbox api-url ws-url token locale>`: a bell with the count of
 * unseen notifications and a panel with the user's inbox, kept current by
 * the client's live events. The token may instead come from a `getToken`
 * property, or the app may hand over its own HeraldClient as `client` (the
 * element then opens no connection of its own and never closes that one).
 * Optional attributes: `sound`, `browser-notifications`, `target` (where a
 * notification's link opens; default this tab).
 */
export class HeraldInbox extends Base {
  static readonly observedAttributes = ['api-url', 'ws-url', 'token', 'locale'];

  private readonly root: ShadowRoot;
  private readonly alerts = new Alerts();
  private givenClient: HeraldClient | null = null;
  private ownClient: HeraldClient | null = null;
  private tokenFn: (() => string | Promise<string>) | undefined;
  private active: HeraldClient | null = null;
  private offs: Array<() => void> = [];
  private restartQueued = false;
  private clock: ReturnType<typeof setInterval> | undefined;

  private locale: WidgetLocale = 'en';
  private s: Strings = stringsFor('en');
  private tab: Tab = 'all';
  private view: 'list' | 'preferences' = 'list';
  private isOpen = false;
  private items: Notification[] = [];
  /** what arrived live while the first page was on its way: the page may be older than it */
  private arrived: Notification[] = [];
  private next: string | null = null;
  private loading = false;
  private failed = false;
  /** bumped by each reload: an answer to an older one is dropped */
  private generation = 0;
  private unseen = 0;
  /** when the last count from the api came (ms since epoch) */
  private countedAt = 0;
  private unread: number | null = null;
  private countAsked = 0;
  private recountTimer: ReturnType<typeof setTimeout> | undefined;
  private connection: ConnectionState = 'connecting';
  /** the open snooze menu and its notification: kept (with what was typed in it) when the list is drawn anew */
  private menu: { id: string; el: HTMLElement } | null = null;

  private bell!: HTMLElement;
  private badge!: HTMLElement;
  private dot!: HTMLElement;
  private panel!: HTMLElement;
  private status!: HTMLElement;
  private prefsButton!: HTMLElement;
  private tabBar!: HTMLElement;
  private body!: HTMLElement;
  private list!: HTMLElement;
  private note!: HTMLElement;
  private toasts!: HTMLElement;
  private live!: HTMLElement;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    adoptStyles(this.root);
  }

  /** An existing HeraldClient to use instead of opening one. */
  get client(): HeraldClient | null {
    return this.givenClient;
  }
  set client(c: HeraldClient | null) {
    this.givenClient = c;
    this.restart();
  }

  /** Returns a fresh token: used when there is no `token` attribute, and when the server refuses the current one. */
  get getToken(): (() => string | Promise<string>) | undefined {
    return this.tokenFn;
  }
  set getToken(fn: (() => string | Promise<string>) | undefined) {
    this.tokenFn = fn;
    this.restart();
  }

  get token(): string | null {
    return this.getAttribute('token');
  }
  set token(t: string | null) {
    if (t) this.setAttribute('token', t);
    else this.removeAttribute('token');
  }

  connectedCallback(): void {
    // properties a page set before this element was defined sit on the instance, hiding the accessors
    for (const k of ['client', 'getToken', 'token'] as const) {
      if (Object.prototype.hasOwnProperty.call(this, k)) {
        const v = (this as Record<string, unknown>)[k];
        delete (this as Record<string, unknown>)[k];
        (this as Record<string, unknown>)[k] = v;
      }
    }
    this.build();
    document.addEventListener('click', this.onDocumentClick, true);
    document.addEventListener('keydown', this.onKey);
    this.clock = setInterval(() => this.refreshTimes(), 30_000);
    this.restart();
  }

  disconnectedCallback(): void {
    document.removeEventListener('click', this.onDocumentClick, true);
    document.removeEventListener('keydown', this.onKey);
    clearInterval(this.clock);
    this.stop();
    this.alerts.close();
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value || !this.isConnected) return;
    if (name === 'locale') this.build();
    else this.restart();
  }

  // ---- connection to Herald

  /** Starts over with the current attributes and properties, once per turn however many of them changed. */
  private restart(): void {
    if (this.restartQueued) return;
    this.restartQueued = true;
    queueMicrotask(() => {
      this.restartQueued = false;
      if (!this.isConnected) return;
      this.stop();
      this.start();
    });
  }

  private start(): void {
    const client = this.givenClient ?? this.makeClient();
    if (!client) return;
    this.active = client;
    this.offs = [
      client.on('notification', (n) => this.onNotification(n)),
      client.on('state', (e) => this.onState(e)),
      client.on('recalled', (r) => {
        this.drop([r.id]);
        this.recountSoon();
      }),
      client.on('unread_count', (n) => {
        this.unread = n;
        this.renderTabs();
      }),
      client.on('connection', (e) => {
        this.connection = e.state;
        this.renderConnection();
      }),
    ];
    // a client made just now has not started connecting yet (it does a microtask later)
    this.connection = client === this.ownClient ? 'connecting' : client.connection;
    this.renderConnection();
    // the newest of the inbox from the client's memory, at once; the first page replaces it
    if (this.tab === 'all') this.items = client.cached();
    this.reload();
    this.recount();
  }

  private makeClient(): HeraldClient | null {
    const wsUrl = this.getAttribute('ws-url');
    const token = this.getAttribute('token') || undefined;
    if (!wsUrl || (!token && !this.tokenFn)) return null;
    this.ownClient = new HeraldClient({ apiUrl: this.apiUrl(), wsUrl, token, getToken: this.tokenFn });
    return this.ownClient;
  }

  private apiUrl(): string {
    return (this.getAttribute('api-url') || location.origin).replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  }

  private stop(): void {
    for (const off of this.offs.splice(0)) off();
    this.ownClient?.close();
    this.ownClient = this.active = null;
    clearTimeout(this.recountTimer);
    this.generation++;
    this.items = [];
    this.unseen = 0;
    this.unread = null;
    this.renderBadge();
  }

  /** The unseen count from the api; the newest of overlapping asks wins. */
  private recount(): void {
    const client = this.active;
    if (!client) return;
    const asked = ++this.countAsked;
    client.count([{ seen: false }]).then(([n]) => {
      if (asked !== this.countAsked || client !== this.active) return;
      this.unseen = n;
      this.countedAt = Date.now();
      this.renderBadge();
    }, noop);
  }

  /** Several changes in a row (another device's read-all) cost one count. */
  private recountSoon(): void {
    clearTimeout(this.recountTimer);
    this.recountTimer = setTimeout(() => this.recount(), 50);
  }

  private onNotification(n: Notification): void {
    if (!n.is_seen) {
      // the panel is open: the user sees it now
      if (this.isOpen && this.view === 'list') this.active?.seen(n.id).catch(noop);
      else {
        this.unseen++;
        // a count answered just now may already hold it (stored before the count, its frame on the way): ask again
        if (Date.now() - this.countedAt < RECOUNT_AFTER_COUNT_MS) this.recountSoon();
      }
      this.countAsked++; // an older count in flight did not include it
    }
    if (this.loading) this.arrived.push(n);
    this.put(n);
    this.renderBadge();
    this.live.textContent = `${this.s.newNotification}: ${n.title}`;
    if (!this.isOpen) this.toast(n);
    if (this.hasAttribute('sound')) this.alerts.beep();
    if (this.hasAttribute('browser-notifications') && document.hidden) this.alerts.show(n.title, n.content, n.id, () => this.setOpen(true));
  }

  private onState(e: StateEvent): void {
    const ids = new Set(e.ids);
    const patch = (change: Partial<Notification>) => {
      this.items = this.items.map((n) => (ids.has(n.id) ? { ...n, ...change } : n));
    };
    switch (e.event) {
      case 'read':
        patch({ is_read: true, is_seen: true });
        break;
      case 'unread':
        patch({ is_read: false });
        if (this.tab === 'unread') this.reload();
        break;
      case 'seen':
        patch({ is_seen: true });
        break;
      case 'archived':
        if (this.tab === 'archived') this.reload();
        else this.drop(e.ids);
        break;
      case 'unarchived':
      case 'unsnoozed':
        this.drop(e.ids);
        if (e.notification) this.put(e.notification);
        break;
      default: // snoozed, deleted
        this.drop(e.ids);
    }
    this.renderList();
    this.recountSoon();
  }

  // ---- the list

  private reload(): void {
    this.generation++;
    this.loading = false;
    this.next = null;
    this.arrived = [];
    void this.load(true);
  }

  private async load(first: boolean): Promise<void> {
    const client = this.active;
    if (!client || this.loading || (!first && !this.next)) return;
    const gen = this.generation;
    this.loading = true;
    this.renderNote();
    try {
      const query: ListQuery = { ...QUERIES[this.tab], limit: PAGE };
      if (!first) query.cursor = this.next!;
      const page = await client.list(query);
      if (gen !== this.generation) return;
      const rows = page.notifications;
      if (first) {
        this.items = rows;
        for (const n of this.arrived) this.put(n);
      } else {
        const have = new Set(this.items.map((n) => n.id));
        this.items = [...this.items, ...rows.filter((n) => !have.has(n.id))];
      }
      this.next = page.next_cursor;
      this.failed = false;
    } catch {
      if (gen === this.generation) this.failed = true;
    } finally {
      if (gen === this.generation) {
        this.loading = false;
        this.arrived = [];
        this.renderList();
        this.fillPanel();
      }
    }
  }

  /** Infinite scroll: the next page when the end of the list comes into view (or the list does not fill the panel). */
  private fillPanel(): void {
    const b = this.body;
    if (this.isOpen && this.view === 'list' && this.next && b.scrollTop + b.clientHeight >= b.scrollHeight - 60) void this.load(false);
  }

  /** Puts a notification in the list, in cursor order, if it belongs to the tab. */
  private put(n: Notification): void {
    const rest = this.items.filter((x) => x.id !== n.id);
    if (!fits(n, this.tab)) {
      this.items = rest;
    } else {
      const at = rest.findIndex((x) => newer(n, x));
      // older than everything loaded: it belongs to a page not yet fetched, unless the list is complete
      if (at === -1 && this.next) this.items = rest;
      else this.items = at === -1 ? [...rest, n] : [...rest.slice(0, at), n, ...rest.slice(at)];
    }
    this.renderList();
  }

  private drop(ids: string[]): void {
    const gone = new Set(ids);
    this.items = this.items.filter((n) => !gone.has(n.id));
    this.renderList();
  }

  private update(id: string, change: Partial<Notification>): void {
    this.items = this.items.map((n) => (n.id === id ? { ...n, ...change } : n));
    this.renderList();
  }

  // ---- what the user does

  private setOpen(open: boolean): void {
    if (open === this.isOpen) return;
    this.isOpen = open;
    this.panel.hidden = !open;
    this.toasts.hidden = open;
    this.bell.setAttribute('aria-expanded', String(open));
    if (!open) return;
    this.pickSide();
    this.toasts.replaceChildren();
    this.alerts.unlock(this.hasAttribute('sound'), this.hasAttribute('browser-notifications'));
    // opening the panel shows everything: nothing is new any more
    this.unseen = 0;
    this.countAsked++;
    this.items = this.items.map((n) => (n.is_seen ? n : { ...n, is_seen: true }));
    this.renderBadge();
    this.active?.seenAll().then(() => this.recount(), noop);
    this.renderList();
    (this.tabBar.querySelector('[aria-selected=true]') as HTMLElement | null)?.focus();
    this.fillPanel();
  }

  private selectTab(tab: Tab): void {
    this.tab = tab;
    this.items = [];
    this.renderTabs();
    this.renderList();
    this.reload();
  }

  /** A click on a notification: it is read, and its link (http(s) only) opens. */
  private openItem(id: string): void {
    const n = this.items.find((x) => x.id === id);
    if (!n) return;
    if (!n.is_read) {
      this.update(id, { is_read: true, is_seen: true });
      this.active?.read(id).catch(noop);
    }
    const url = safeUrl(n.url, location.href);
    if (url) this.follow(url);
  }

  private follow(url: string): void {
    const target = this.getAttribute('target');
    if (target && target !== '_self') window.open(url, target, 'noopener');
    else location.assign(url);
  }

  /** Button `i` of a notification: recorded by the api (which marks it read), then its link (http(s) only) opens. */
  private async act(n: Notification, i: number): Promise<void> {
    let url = safeUrl(n.actions[i]?.url, location.href);
    this.update(n.id, { is_read: true, is_seen: true });
    try {
      const taken = await this.active?.action(n.id, i);
      if (taken) url = safeUrl(taken.url, location.href) ?? url;
    } catch {
      // not recorded: the user still gets where the button leads
    }
    if (url) this.follow(url);
  }

  private archive(n: Notification): void {
    const undo = n.is_archived;
    this.drop([n.id]);
    (undo ? this.active?.unarchive(n.id) : this.active?.archive(n.id))?.then(() => this.recountSoon(), noop);
  }

  private snooze(n: Notification, until: Date | null): void {
    if (!until || until.getTime() <= Date.now()) return;
    this.drop([n.id]);
    this.active?.snooze(n.id, until).then(() => this.recountSoon(), () => this.reload());
  }

  private readAll(): void {
    this.items = this.items.map((n) => ({ ...n, is_read: true, is_seen: true }));
    this.renderList();
    this.active?.readAll().catch(noop);
  }

  private archiveAll(): void {
    if (this.tab !== 'archived') this.items = [];
    this.renderList();
    this.active?.archiveAll().then(() => (this.tab === 'archived' ? this.reload() : this.recountSoon()), noop);
  }

  private showPreferences(on: boolean): void {
    this.view = on ? 'preferences' : 'list';
    this.tabBar.hidden = on;
    this.prefsButton.textContent = on ? this.s.back : this.s.preferences;
    if (on && this.active) this.body.replaceChildren(preferencesView(this.active, this.s));
    else {
      this.body.replaceChildren(this.list, this.note);
      this.renderList();
    }
  }

  private readonly onDocumentClick = (ev: Event): void => {
    if (this.isOpen && !ev.composedPath().includes(this)) this.setOpen(false);
  };

  /** On the document: Escape closes the panel wherever the focus is (a click may have left it on the page). */
  private readonly onKey = (ev: KeyboardEvent): void => {
    if (ev.key === 'Escape' && this.isOpen) {
      this.setOpen(false);
      this.bell.focus();
      return;
    }
    if (!ev.composedPath().includes(this)) return;
    const tab = (ev.composedPath()[0] as HTMLElement).dataset?.tab as Tab | undefined;
    if (tab && (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft')) {
      const next = TABS[(TABS.indexOf(tab) + (ev.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length];
      this.selectTab(next);
      (this.tabBar.querySelector(`[data-tab=${next}]`) as HTMLElement).focus();
    }
  };

  // ---- drawing

  /** Draws the element's frame in the current locale (again when `locale` changes). */
  private build(): void {
    this.locale = pickLocale(this.getAttribute('locale'));
    const s = (this.s = stringsFor(this.locale));
    this.badge = h('span', { class: 'badge', part: 'badge', 'aria-hidden': 'true', hidden: true });
    this.dot = h('span', { class: 'conn', hidden: true });
    this.bell = h(
      'button',
      { type: 'button', class: 'bell', part: 'bell', 'aria-haspopup': 'dialog', 'aria-expanded': String(this.isOpen), onclick: () => this.setOpen(!this.isOpen) },
      bellIcon(),
      this.badge,
      this.dot,
    );
    this.status = h('span', { class: 'status', 'data-connection': '' });
    this.prefsButton = h('button', { type: 'button', 'data-act': 'preferences', onclick: () => this.showPreferences(this.view === 'list') }, s.preferences);
    this.tabBar = h(
      'div',
      { class: 'tabs', role: 'tablist' },
      ...TABS.map((t) => h('button', { type: 'button', role: 'tab', class: 'tab', 'data-tab': t, onclick: () => this.selectTab(t) })),
    );
    this.list = h('ul', { class: 'list' });
    this.note = h('p', { class: 'note' });
    this.body = h('div', { class: 'body', role: 'tabpanel', onscroll: () => this.fillPanel() }, this.list, this.note);
    this.panel = h(
      'div',
      { class: 'panel', part: 'panel', role: 'dialog', 'aria-label': s.bell, hidden: !this.isOpen },
      h(
        'div',
        { class: 'head' },
        h('span', { class: 'title' }, s.bell),
        this.status,
        h('button', { type: 'button', 'data-act': 'read-all', onclick: () => this.readAll() }, s.readAll),
        h('button', { type: 'button', 'data-act': 'archive-all', onclick: () => this.archiveAll() }, s.archiveAll),
        this.prefsButton,
        h('button', { type: 'button', 'data-act': 'close', 'aria-label': s.close, onclick: () => this.setOpen(false) }, '×'),
      ),
      this.tabBar,
      this.body,
    );
    this.toasts = h('div', { class: 'toasts', hidden: this.isOpen });
    this.live = h('div', { class: 'sr', 'aria-live': 'polite' });
    this.root.replaceChildren(this.bell, this.panel, this.toasts, this.live);
    this.view = 'list';
    this.renderBadge();
    this.renderConnection();
    this.renderTabs();
    this.renderList();
  }

  /** The panel and toasts open towards the wider side of the window, so a bell at the left edge keeps them on screen. */
  private pickSide(): void {
    const r = this.getBoundingClientRect();
    this.panel.classList.toggle('start', r.left + r.width / 2 < innerWidth / 2);
  }

  private renderBadge(): void {
    if (!this.badge) return;
    const n = this.unseen;
    this.badge.textContent = n > 99 ? '99+' : String(n);
    this.badge.hidden = n === 0;
    this.bell.setAttribute('aria-label', n ? `${this.s.bell}, ${this.s.unseen(n)}` : this.s.bell);
  }

  private renderConnection(): void {
    if (!this.dot) return;
    const c = this.connection;
    const words = { open: '', connecting: this.s.connecting, polling: this.s.polling, offline: this.s.offline };
    this.status.textContent = words[c];
    this.status.dataset.connection = c;
    this.dot.hidden = c === 'open' || c === 'connecting';
    this.dot.title = words[c];
  }

  private renderTabs(): void {
    if (!this.tabBar) return;
    for (const b of this.tabBar.children as HTMLCollectionOf<HTMLElement>) {
      const t = b.dataset.tab as Tab;
      b.textContent = t === 'unread' && this.unread ? `${this.s.unread} (${this.unread})` : this.s[t];
      b.setAttribute('aria-selected', String(t === this.tab));
      b.tabIndex = t === this.tab ? 0 : -1;
    }
  }

  private renderList(): void {
    if (!this.list || this.view !== 'list') return;
    // the list is drawn anew: keep the keyboard's place on the same button of the same notification
    const focused = this.root.activeElement as HTMLElement | null;
    const li = focused?.closest('li');
    const act = focused?.dataset.act ?? (focused?.classList.contains('open') ? 'open' : null);
    const shown = this.items.filter((n) => fits(n, this.tab));
    if (this.menu && !shown.some((n) => n.id === this.menu!.id)) this.menu = null;
    this.list.replaceChildren(...shown.map((n) => this.itemEl(n)));
    if (focused && this.menu?.el.contains(focused)) focused.focus(); // the menu moved into the new row
    else if (li && act) {
      const again = this.list.querySelector(`li[data-id="${CSS.escape(li.dataset.id!)}"]`);
      (again?.querySelector(act === 'open' ? '.open' : `[data-act="${act}"]`) as HTMLElement | null)?.focus();
    }
    this.renderNote();
  }

  private renderNote(): void {
    const text = this.loading ? this.s.loading : this.failed ? this.s.failed : this.list.childElementCount ? '' : this.s.empty;
    this.note.textContent = text;
    this.note.hidden = !text;
  }

  private itemEl(n: Notification): HTMLElement {
    const s = this.s;
    const button = (act: string, label: string, onclick: () => void, cls = '') =>
      h('button', { type: 'button', 'data-act': act, class: cls || null, onclick }, label);
    const actions = (n.actions ?? []).slice(0, 3).map((a, i) => {
      const b = button('action', a.label, () => void this.act(n, i), a.style === 'primary' ? 'primary' : '');
      b.dataset.action = String(i);
      return b;
    });
    const li = h(
      'li',
      { class: n.is_read ? 'item' : 'item unread', 'data-id': n.id },
      h(
        'button',
        { type: 'button', class: 'open', onclick: () => this.openItem(n.id) },
        image(n.image_url),
        h('span', { class: 't' }, n.title),
        h('span', { class: 'c' }, n.content),
        h('span', { class: 'meta' }, h('span', {}, s.types[n.type] ?? n.type), h('time', { datetime: n.created_at }, relativeTime(n.created_at, this.locale))),
      ),
    );
    const row = h(
      'div',
      { class: 'row' },
      ...actions,
      button(n.is_archived ? 'unarchive' : 'archive', n.is_archived ? s.unarchive : s.archive, () => this.archive(n)),
      n.is_archived ? null : button('snooze', s.snooze, () => this.toggleSnooze(li, n)),
    );
    li.append(row);
    if (this.menu?.id === n.id) li.append(this.menu.el);
    return li;
  }

  private toggleSnooze(li: HTMLElement, n: Notification): void {
    const open = this.menu;
    this.menu?.el.remove();
    this.menu = null;
    if (open?.id === n.id) return;
    const s = this.s;
    const at = h('input', { type: 'datetime-local', step: '1', 'aria-label': s.snoozeAt }) as HTMLInputElement;
    const menu = h(
      'div',
      { class: 'menu', role: 'group', 'aria-label': s.snooze },
      h('button', { type: 'button', 'data-snooze': 'hour', onclick: () => this.snooze(n, inAnHour()) }, s.snoozeHour),
      h('button', { type: 'button', 'data-snooze': 'tomorrow', onclick: () => this.snooze(n, tomorrowMorning()) }, s.snoozeTomorrow),
      h('label', {}, s.snoozeAt, ' ', at),
      h('button', { type: 'button', 'data-snooze': 'at', onclick: () => this.snooze(n, fromLocalInput(at.value)) }, s.set),
    );
    this.menu = { id: n.id, el: menu };
    li.append(menu);
    (menu.firstElementChild as HTMLElement).focus();
  }

  private refreshTimes(): void {
    for (const t of this.root.querySelectorAll('time')) t.textContent = relativeTime(t.getAttribute('datetime')!, this.locale);
  }

  private toast(n: Notification): void {
    const el = h(
      'button',
      { type: 'button', class: 'toast', 'data-id': n.id, onclick: () => this.setOpen(true) },
      h('span', { class: 't' }, n.title),
      h('span', { class: 'c' }, n.content),
    );
    this.pickSide();
    this.toasts.prepend(el);
    while (this.toasts.childElementCount > TOASTS) this.toasts.lastElementChild!.remove();
    setTimeout(() => el.remove(), TOAST_MS);
  }
}

/** A notification's picture, when it has an http(s) one: decorative (the title says what it is), loaded lazily, sent no referrer. */
function image(raw: string | null): HTMLElement | null {
  const src = safeUrl(raw);
  return src ? h('img', { class: 'img', src, alt: '', loading: 'lazy', referrerpolicy: 'no-referrer' }) : null;
}

/** The bell, drawn as SVG so it looks the same everywhere (an emoji does not). */
function bellIcon(): SVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '22');
  svg.setAttribute('height', '22');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z');
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return svg;
}
