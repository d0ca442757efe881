/**
 * The WebSocket load client of bench/realtime: bench/lib/ws-load.c (built by
 * bench/lib/build-c.ts), run as a child process and driven over its
 * stdin/stdout (the protocol is at the top of the C file). One process may
 * open at most 20,000 files here, so the bench starts several.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { buildBinary } from './build-c.js';

/** Compiles ws-load.c when needed; returns the binary's path. */
export const buildWsLoad = () => buildBinary('ws-load');

/** What the client keeps of a message marked "bench_" (values as the JSON has them, '' when absent). */
export interface FrameRecord {
  /** receive time, ms since the epoch (CLOCK_REALTIME, µs resolution) */
  t: number;
  bench_kind: string;
  bench_id: string;
  bench_t0: string;
  created_at: string;
  sent_at: string;
}

export interface Report {
  /** sockets open now */
  open: number;
  /** messages received since the last report */
  messages: number;
  /** of those, the ones containing "bench_" */
  records: FrameRecord[];
}

export interface WsLoad {
  /** opens the sockets (bound to localAddress), 100 at a time; with waitWelcome one counts once its first message came */
  connect(urls: string[], localAddress: string | null, waitWelcome: boolean): Promise<{ connected: number; failed: number }>;
  /** what arrived since the last report */
  report(): Promise<Report>;
  /** how many records the next report holds (cheap: no records cross the pipe) */
  pending(): Promise<number>;
  /** sockets opened by connect() that are closed now (their server went away) */
  dropped(): Promise<number>;
  /**
   * opens every dropped socket again at once (at most `lanes` connecting at a time, 0 = no limit), each
   * with `&since=<cursor>` of its last welcome; resolves with the time (ms since the epoch) each was open
   * (welcomed, with waitWelcome) again, and how many were not within timeoutMs
   */
  storm(waitWelcome: boolean, lanes: number, timeoutMs: number): Promise<{ openedAt: number[]; failed: number }>;
  /** closes every socket */
  close(): Promise<void>;
  exit(): void;
}

/**
 * Starts one client process. napUs: after reading frames, the client sleeps
 * this long before it looks again, so a burst is read in batches rather than
 * waking the client per frame (the server paid for each wake-up on loopback);
 * a receive time is then at most napUs late (default 0).
 */
export function startWsLoad(path = buildWsLoad(), napUs = 0): WsLoad {
  const child = spawn(path, [String(napUs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: Array<(lines: string[]) => void> = [];
  let report: string[] | null = null;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (report) {
      if (line !== 'end') return void report.push(line);
      const lines = report;
      report = null;
      return waiting.shift()?.(lines);
    }
    if (line.startsWith('report ') || line.startsWith('storm ')) report = [line];
    else waiting.shift()?.([line]);
  });
  child.on('exit', (code, signal) => {
    for (const w of waiting.splice(0)) w([`exited ${code ?? signal}`]);
  });
  const ask = (command: string) =>
    new Promise<string[]>((resolve) => {
      waiting.push(resolve);
      child.stdin.write(command + '\n');
    });
  const fields = (line: string, head: string) => {
    if (!line.startsWith(head + ' ')) throw new Error(`ws-load answered "${line.slice(0, 80)}" instead of "${head} …"`);
    return line.split(' ').slice(1).map(Number);
  };

  return {
    async connect(urls, localAddress, waitWelcome) {
      for (const url of urls) if (/\s/.test(url)) throw new Error(`a url with white space: ${url}`);
      const [line] = await ask(`connect ${localAddress ?? '-'} ${waitWelcome ? 1 : 0} ${urls.join(' ')}`);
      const [connected, failed] = fields(line, 'connected');
      return { connected, failed };
    },
    async report() {
      const [head, ...lines] = await ask('report');
      const [open, messages] = fields(head, 'report');
      const records = lines.map((l) => {
        const [t, bench_kind, bench_id, bench_t0, created_at, sent_at] = l.split('\t');
        return { t: Number(t), bench_kind, bench_id, bench_t0, created_at, sent_at };
      });
      return { open, messages, records };
    },
    async pending() {
      const [line] = await ask('pending');
      return fields(line, 'pending')[0];
    },
    async dropped() {
      const [line] = await ask('dropped');
      return fields(line, 'dropped')[0];
    },
    async storm(waitWelcome, lanes, timeoutMs) {
      const [head, ...lines] = await ask(`storm ${waitWelcome ? 1 : 0} ${lanes} ${timeoutMs}`);
      const [, failed] = fields(head, 'storm');
      return { openedAt: lines.map(Number), failed };
    },
    async close() {
      const [line] = await ask('close');
      if (line !== 'closed') throw new Error(`ws-load answered "${line}" to close`);
    },
    exit() {
      child.stdin.end('exit\n');
    },
  };
}
