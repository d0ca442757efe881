/**
 * Answers `{ cmd: 'mem' }` on the IPC channel with memoryUsage() taken after
 * two full GCs (needs --expose-gc). `threads`, for a process with worker
 * threads, runs their GCs first and resolves with their JS heaps, which are
 * added to heapUsed (RSS is the whole process's anyway).
 */
export function onMemoryRequest(threads?: () => Promise<number>): void {
  process.on('message', async (msg: { cmd?: string }) => {
    if (msg?.cmd !== 'mem') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('start this process with --expose-gc');
    const threadHeaps = threads ? await threads() : 0;
    gc();
    gc();
    const mem = process.memoryUsage();
    process.send!({ mem: { ...mem, heapUsed: mem.heapUsed + threadHeaps } });
  });
}
