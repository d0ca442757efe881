/** Answers `{ cmd: 'mem' }` on the IPC channel with memoryUsage() taken after two full GCs (needs --expose-gc). */
export function onMemoryRequest(): void {
  process.on('message', (msg: { cmd?: string }) => {
    if (msg?.cmd !== 'mem') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('start this process with --expose-gc');
    gc();
    gc();
    process.send!({ mem: process.memoryUsage() });
  });
}
