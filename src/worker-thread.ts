import { Worker, parentPort } from 'node:worker_threads';

/**
 * A worker thread running `entry`. Under tsx (npm start, the tests, the
 * benches) the entry is a .ts file and a worker does not inherit tsx's
 * loader, so the thread registers it before importing the entry; compiled
 * entries (.js) start as they are.
 */
export function startWorker(entry: URL, workerData: unknown): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/** The sibling module `name` in the same form as `from` (a .ts file under tsx, .js once compiled). */
export function siblingEntry(from: string, name: string): URL {
  const ext = new URL(from).pathname.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, from);
}

/**
 * In a worker: answers `{ type: 'gc' }` with `{ type: 'gc', heapUsed }` after
 * two full GCs when the process runs with --expose-gc (bench/realtime reads
 * a node's memory that way), with the heap as it is otherwise.
 */
export function answerGcRequests(): void {
  parentPort?.on('message', (msg: { type?: string }) => {
    if (msg?.type !== 'gc') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    parentPort!.postMessage({ type: 'gc', heapUsed: process.memoryUsage().heapUsed });
  });
}

/** Asks each worker (answerGcRequests) to collect; resolves with their JS heaps added up. */
export async function gcWorkers(workers: Worker[]): Promise<number> {
  const heaps = await Promise.all(
    workers.map(
      (w) =>
        new Promise<number>((resolve) => {
          const onMessage = (msg: { type?: string; heapUsed?: number }) => {
            if (msg?.type !== 'gc') return;
            w.off('message', onMessage);
            resolve(msg.heapUsed ?? 0);
          };
          w.on('message', onMessage);
          w.postMessage({ type: 'gc' });
        }),
    ),
  );
  return heaps.reduce((a, b) => a + b, 0);
}
