/**
 * Many idle WebSocket clients that reconnect on their own: bench/lib/ws-load.c
 * processes (built by bench/lib/build-c.ts) with its `reconnect` command on.
 * A process may open at most ~20,000 files here, so the sockets are spread
 * over several, each bound to its own loopback address (its own ephemeral
 * ports). Used to time a reconnect storm: kill the node, then poll how many
 * sockets have their welcome again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { buildWsLoad } from './ws-load.js';

interface Client {
  child: ChildProcess;
  ask(command: string, head: string): Promise<string>;
}

function startClient(binary: string): Client {
  const child = spawn(binary, ['0'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: Array<{ head: string; resolve: (line: string) => void }> = [];
  let inReport = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    // a report's record lines (none are expected: these clients get no bench frames) end with "end"
    if (inReport) {
      if (line === 'end') inReport = false;
      return;
    }
    if (line.startsWith('report ')) inReport = true;
    const w = waiting.shift();
    if (w && !line.startsWith(w.head)) throw new Error(`ws-load answered "${line.slice(0, 80)}" instead of "${w.head} …"`);
    w?.resolve(line);
  });
  child.on('exit', (code, signal) => {
    for (const w of waiting.splice(0)) w.resolve(`exited ${code ?? signal}`);
  });
  return {
    child,
    ask: (command, head) =>
      new Promise((resolve) => {
        waiting.push({ head, resolve });
        child.stdin!.write(command + '\n');
      }),
  };
}

const numbers = (line: string) => line.split(' ').slice(1).map(Number);

export interface StormClients {
  /** opens every url (waiting for each one's welcome); resolves with how many did and did not */
  connect(urls: string[]): Promise<{ connected: number; failed: number }>;
  /** sockets open and welcomed right now */
  open(): Promise<number>;
  /** reconnects that succeeded and attempts made, since the start */
  retries(): Promise<{ waiting: number; reconnected: number; attempts: number }>;
  close(): Promise<void>;
  exit(): void;
}

/**
 * processes: client processes (each holds sockets/processes of them, at most ~19,000);
 * baseMs/capMs: a closed socket reconnects after a random delay up to min(capMs, baseMs·2^failures).
 */
export async function startStormClients(processes: number, baseMs: number, capMs: number): Promise<StormClients> {
  const binary = buildWsLoad();
  const clients = Array.from({ length: processes }, () => startClient(binary));
  await Promise.all(clients.map((c) => c.ask(`reconnect ${baseMs} ${capMs}`, 'reconnect')));
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    async connect(urls) {
      const per = Math.ceil(urls.length / clients.length);
      const replies = await Promise.all(
        clients.map((c, i) => c.ask(`connect 127.0.0.${2 + i} 1 ${urls.slice(i * per, (i + 1) * per).join(' ')}`, 'connected')),
      );
      return { connected: sum(replies.map((r) => numbers(r)[0])), failed: sum(replies.map((r) => numbers(r)[1])) };
    },
    async open() {
      return sum((await Promise.all(clients.map((c) => c.ask('report', 'report')))).map((r) => numbers(r)[0]));
    },
    async retries() {
      const rows = (await Promise.all(clients.map((c) => c.ask('retrying', 'retrying')))).map(numbers);
      return { waiting: sum(rows.map((r) => r[0])), reconnected: sum(rows.map((r) => r[1])), attempts: sum(rows.map((r) => r[2])) };
    },
    async close() {
      await Promise.all(clients.map((c) => c.ask('close', 'closed')));
    },
    exit() {
      for (const c of clients) c.child.stdin!.end('exit\n');
    },
  };
}
