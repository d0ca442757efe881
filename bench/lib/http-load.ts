/**
 * The fixed-rate HTTP load generator of bench/realtime: bench/lib/http-load.c
 * (built by bench/lib/build-c.ts), a child process driven over stdin/stdout
 * (the protocol is at the top of the C file).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { buildBinary } from './build-c.js';

export interface HttpLoadRun {
  path: string;
  headers: Record<string, string>;
  /** the body; `{i}` becomes the user index (request number modulo users), `{t0}` the time the request was due, ms since the epoch */
  bodyTemplate: string;
  rate: number;
  count: number;
  users: number;
}

export interface HttpLoadResult {
  sent: number;
  /** answered 2xx */
  ok: number;
  /** answered with another status */
  failed: number;
  /** in flight when the server closed the connection */
  lost: number;
}

export interface HttpLoad {
  /** POSTs count requests at rate/s and resolves once every one is answered */
  run(r: HttpLoadRun): Promise<HttpLoadResult>;
  exit(): void;
}

/** One generator for http://<ipv4>:<port> with `sockets` keep-alive connections (one request in flight each). */
export function startHttpLoad(url: string, sockets = 256): HttpLoad {
  const { hostname, port } = new URL(url);
  const child = spawn(buildBinary('http-load'), [hostname, port, String(sockets)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(line));
  child.on('exit', (code, signal) => {
    for (const w of waiting.splice(0)) w(`exited ${code ?? signal}`);
  });
  return {
    run(r) {
      for (const v of [r.path, r.bodyTemplate, ...Object.values(r.headers)]) if (v.includes('\n')) throw new Error('a newline in a request part');
      if (/\s/.test(r.path)) throw new Error(`white space in the path ${r.path}`);
      const lines = [...Object.entries(r.headers).map(([k, v]) => `header ${k}: ${v}`), `body ${r.bodyTemplate}`, `run ${r.path} ${r.rate} ${r.count} ${r.users}`];
      return new Promise((resolve, reject) => {
        waiting.push((line) => {
          const m = /^done (\d+) (\d+) (\d+) (\d+)$/.exec(line);
          if (!m) return reject(new Error(`http-load answered "${line}"`));
          resolve({ sent: Number(m[1]), ok: Number(m[2]), failed: Number(m[3]), lost: Number(m[4]) });
        });
        child.stdin.write(lines.join('\n') + '\n');
      });
    },
    exit() {
      child.stdin.end('exit\n');
    },
  };
}
