import WebSocket from 'ws';

/** The p-th percentile of ascending `sorted` (NaN when empty). */
export const pct = (sorted: readonly number[], p: number): number =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;

/** Closes every socket of `list` and resolves once each has closed. */
export async function closeSockets(list: readonly WebSocket[]): Promise<void> {
  await Promise.all(
    list.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close();
        }),
    ),
  );
}
