import { createServer } from 'node:net';
import type { Worker } from 'node:worker_threads';
import type { Lifecycle } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import { siblingEntry, startWorker } from '../worker-thread.js';
import type { ThreadData } from './thread.js';

/**
 * A realtime process on several cores (WS_THREADS > 1). One uWS app runs on
 * one thread, and a broadcast is one write() per socket, most of it kernel
 * TCP work: a single-threaded node writes a broadcast on one core however
 * many the host has. Here each worker thread runs a whole node
 * (src/realtime/thread.ts) — its own id, Redis connections, PostgreSQL pool,
 * presence and metrics — exactly as separate node processes side by side
 * would, so every cluster rule (each node subscribes to its own topics, per-user limits,
 * connection counts) holds unchanged. The threads share WS_PORT: uWS sets
 * SO_REUSEPORT on its listen sockets and the kernel spreads new connections
 * over them (uSockets sets it only for a port other than 0, so WS_PORT=0
 * first picks a free port for all of them).
 *
 * A thread that dies takes the process down (exit 1) after the other
 * threads have closed their sockets with 1001: a supervisor restarts the
 * process, and clients reconnect with ?since= and miss nothing.
 */
export interface RealtimeThreads {
  workers: Worker[];
}

const entry = siblingEntry(import.meta.url, 'thread');

export async function runRealtimeThreads(count: number, port: number, logger: Logger, life: Lifecycle): Promise<RealtimeThreads> {
  const workers: Worker[] = [];
  let stopping = false;

  const start = (index: number, listenOn: number) =>
    new Promise<void>((resolve, reject) => {
      const worker = startWorker(entry, { index, port: listenOn } satisfies ThreadData);
      workers.push(worker);
      let listening = false;
      worker.on('message', (msg: { type?: string }) => {
        if (msg?.type !== 'listening' || listening) return;
        listening = true;
        resolve();
      });
      worker.on('error', (err) => {
        logger.fatal({ err, thread: index }, 'realtime thread failed');
        if (!listening) reject(err);
      });
      worker.on('exit', (code) => {
        if (!listening) reject(new Error(`realtime thread ${index} exited (${code}) before it listened`));
        else if (!stopping) {
          logger.fatal({ thread: index, code }, 'realtime thread exited: stopping the process');
          void life.close().finally(() => process.exit(1));
        }
      });
    });

  // registered before any thread starts, so a failed start stops the ones already running
  life.add('realtime threads', async () => {
    stopping = true;
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.threadId < 0) return resolve(); // already exited
            w.once('exit', () => resolve());
            w.postMessage({ type: 'stop' });
          }),
      ),
    );
  });

  const shared = port || (await freePort());
  await Promise.all(Array.from({ length: count }, (_, i) => start(i, shared)));
  logger.info({ port: shared, threads: count }, 'realtime threads listening');

  return { workers };
}

/** A TCP port free right now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
