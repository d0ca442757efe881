import type { Notification } from './api-types.js';
import { cursorAfter } from './cursors.js';

/** The parts of Web Storage the cache uses (the browser's localStorage fits). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Notifications kept: the first page of an inbox and some. */
export const CACHED = 100;
const PREFIX = 'herald:inbox:';
const SAVE_DELAY_MS = 200;

/**
 * The newest notifications of the user's inbox (the default list: not
 * archived, not snoozed), newest first, kept in memory and, where there is
 * Web Storage, under one key per user, so that a reload shows the inbox at
 * once while the client syncs. It follows the list pages the app loads and
 * every live change: new notifications, read, seen, archived, snoozed,
 * deleted, recalled, back from the archive or a snooze.
 *
 * Storage may be full, disabled or shared by a private window: every write
 * is best effort, and the memory copy stays right regardless.
 */
export class InboxCache {
  private items: Notification[] = [];
  private key: string | null = null;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly storage: StorageLike | null) {
    const page = globalThis as { addEventListener?: (type: string, fn: () => void) => void };
    if (storage) page.addEventListener?.('pagehide', this.flush);
  }

  /** Loads the user's stored copy (once: a client serves one user). */
  open(user: string): void {
    if (this.key !== null) return;
    this.key = PREFIX + user;
    try {
      const stored = JSON.parse(this.storage?.getItem(this.key) ?? 'null') as unknown;
      if (Array.isArray(stored) && this.items.length === 0) this.items = stored.filter(isNotification).slice(0, CACHED);
    } catch {
      // a copy that does not parse is dropped; the next page replaces it
    }
  }

  find(id: string): Notification | undefined {
    return this.items.find((n) => n.id === id);
  }

  list(): Notification[] {
    return this.items.slice();
  }

  /** A page of the default list: the first replaces the copy, later ones extend it. */
  page(notifications: Notification[], first: boolean): void {
    const older = first ? [] : this.items;
    const ids = new Set(older.map((n) => n.id));
    this.items = older.concat(notifications.filter((n) => !ids.has(n.id))).slice(0, CACHED);
    this.save();
  }

  /** A notification (new, or back from the archive or a snooze) goes in at its place by cursor. */
  add(n: Notification): void {
    if (n.is_archived || (n.snoozed_until && Date.parse(n.snoozed_until) > Date.now())) return;
    const rest = this.items.filter((m) => m.id !== n.id);
    const at = rest.findIndex((m) => !newer(m, n));
    if (at === -1 && rest.length >= CACHED) return; // older than everything kept
    rest.splice(at === -1 ? rest.length : at, 0, n);
    this.items = rest.slice(0, CACHED);
    this.save();
  }

  update(ids: string[], change: Partial<Notification>): void {
    const set = new Set(ids);
    let changed = false;
    this.items = this.items.map((n) => (set.has(n.id) ? ((changed = true), { ...n, ...change }) : n));
    if (changed) this.save();
  }

  remove(ids: string[]): void {
    const set = new Set(ids);
    const kept = this.items.filter((n) => !set.has(n.id));
    if (kept.length === this.items.length) return;
    this.items = kept;
    this.save();
  }

  /** Forgets the copy, in memory and in storage (e.g. when the user signs out). */
  clear(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    this.items = [];
    try {
      if (this.key) this.storage?.removeItem(this.key);
    } catch {
      // storage refused: nothing else to do
    }
  }

  /** A burst of changes (a replay, a read-all, ten notifications a second) costs one write. */
  private save(): void {
    if (!this.key || !this.storage || this.saveTimer !== undefined) return;
    this.saveTimer = setTimeout(this.flush, SAVE_DELAY_MS);
  }

  /** Writes now; also when the page goes away, so a reload finds the latest copy. */
  private readonly flush = (): void => {
    clearTimeout(this.saveTimer);
    if (this.saveTimer === undefined) return;
    this.saveTimer = undefined;
    try {
      if (this.key) this.storage?.setItem(this.key, JSON.stringify(this.items));
    } catch {
      // full or disabled: the memory copy is enough until the next reload
    }
  };
}

/** Whether `a` lists before `b` (newest first: by cursor, else by creation time). */
function newer(a: Notification, b: Notification): boolean {
  if (a.cursor && b.cursor) return cursorAfter(a.cursor, b.cursor);
  return a.created_at > b.created_at;
}

function isNotification(v: unknown): v is Notification {
  return typeof v === 'object' && v !== null && typeof (v as Notification).id === 'string';
}
