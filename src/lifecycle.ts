import type { Logger } from './logger.js';

type Releaser = () => Promise<unknown> | unknown;

/**
 * Every resource a process opens registers its releaser here; shutdown runs
 * them in reverse order and keeps going when one fails.
 */
export class Lifecycle {
  private releasers: Array<{ name: string; release: Releaser }> = [];
  private closing?: Promise<void>;

  constructor(private readonly logger?: Logger) {}

  add(name: string, release: Releaser): void {
    this.releasers.push({ name, release });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const { name, release } of this.releasers.reverse()) {
        try {
          await release();
        } catch (err) {
          this.logger?.error({ err, resource: name }, 'release failed');
        }
      }
    })();
    return this.closing;
  }

  /** Writes out buffered log lines (pino transports run in a worker thread) before the process exits. */
  flushLogs(timeoutMs = 1000): Promise<void> {
    const logger = this.logger;
    if (!logger) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      logger.flush(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** SIGINT/SIGTERM close everything, then exit 0 (or 1 past timeoutMs). */
  handleSignals(timeoutMs = 10_000): void {
    let stopping = false;
    const stop = (signal: string) => {
      // A second signal (Ctrl-C reaches every process of the group, then npm start
      // sends SIGTERM too) must not cut the first shutdown short.
      if (stopping) return void this.logger?.info({ signal }, 'already shutting down');
      stopping = true;
      this.logger?.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        this.logger?.error('shutdown timed out');
        process.exit(1);
      }, timeoutMs);
      timer.unref();
      void this.close()
        .then(() => this.flushLogs())
        .then(() => process.exit(0));
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  }
}
