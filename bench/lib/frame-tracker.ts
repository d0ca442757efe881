/**
 * A WebSocket client that behaves like Herald's own: it keeps the cursor of
 * the last notification frame, and when its socket closes (node killed,
 * feed interrupted, anything) it reconnects after a short jittered backoff
 * with `?since=<that cursor>`, so the node replays what it missed. It keeps
 * the first receive time of every notification id, and counts what a
 * client would notice: the same id twice, welcomes, closes by code.
 */
import WebSocket from 'ws';

export interface TrackerStats {
  welcomes: number;
  /** notification frames received twice (same id) */
  duplicates: number;
  /** close codes seen (1006 when the connection was cut without a close frame) and refused upgrades ("http 401", …) */
  closes: Map<string, number>;
}

export class FrameTracker {
  /** notification id → first receive time (ms since the epoch) */
  readonly frames = new Map<string, number>();
  readonly stats: TrackerStats = { welcomes: 0, duplicates: 0, closes: new Map() };
  /** time of the last welcome */
  welcomedAt = 0;
  private ws?: WebSocket;
  private cursor: string | null = null;
  private failures = 0;
  private stopped = false;
  private timer?: NodeJS.Timeout;

  /**
   * url: ws://…/api/v1/ws?token=…; the first connect has no since (live from now), every reconnect
   * has since=<last cursor> (0 when none came yet: the user's inbox is new).
   * backoff: the first retry waits up to baseMs, doubling per failure up to capMs (full jitter).
   */
  constructor(
    private readonly url: string,
    private readonly baseMs = 250,
    private readonly capMs = 2000,
  ) {}

  /** Connects and resolves at the welcome (or rejects when the first attempt fails). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => this.open(resolve, reject));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.terminate();
  }

  private count(key: string) {
    this.stats.closes.set(key, (this.stats.closes.get(key) ?? 0) + 1);
  }

  private open(onWelcome?: () => void, onFail?: (err: Error) => void) {
    const since = this.welcomedAt ? `&since=${this.cursor ?? '0'}` : '';
    const ws = new WebSocket(`${this.url}${since}`);
    this.ws = ws;
    ws.on('message', (data) => {
      const text = data.toString();
      if (text[0] !== '{') return;
      const msg = JSON.parse(text);
      if (msg.event === 'welcome') {
        this.stats.welcomes++;
        this.welcomedAt = Date.now();
        this.failures = 0;
        onWelcome?.();
        onWelcome = onFail = undefined;
      } else if (msg.event === 'notification') {
        if (this.frames.has(msg.id)) this.stats.duplicates++;
        else this.frames.set(msg.id, Date.now());
        if (msg.cursor) this.cursor = msg.cursor;
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      this.count(`http ${res.statusCode}`);
      ws.terminate();
    });
    ws.on('error', () => undefined);
    ws.on('close', (code) => {
      if (this.stopped) return;
      if (code) this.count(String(code));
      if (onFail) {
        onFail(new Error(`the first connection of ${this.url.replace(/token=[^&]+/, 'token=…')} closed (${code})`));
        return;
      }
      const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.failures++);
      this.timer = setTimeout(() => this.open(), Math.random() * ceiling);
    });
  }
}
