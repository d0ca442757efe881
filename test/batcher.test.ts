/** queues/batcher.ts: how concurrent callers' items are grouped into flushes (the api's enqueue, the worker's INSERT). */
import { expect, test } from 'vitest';
import { Batcher } from '../queues/batcher.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A flush function that records each batch and finishes when told to. */
function recorder() {
  const batches: number[][] = [];
  const finish: Array<(err?: Error) => void> = [];
  const flushFn = (items: number[]) => {
    batches.push(items);
    return new Promise<void>((resolve, reject) => finish.push((err) => (err ? reject(err) : resolve())));
  };
  return { batches, finish, flushFn };
}

test('items added in one event-loop turn go as one batch, and each caller settles with it', async () => {
  const r = recorder();
  const b = new Batcher(r.flushFn, { max: 100 });
  let settled = 0;
  const calls = [b.add([1]), b.add([2, 3]), b.add([4])].map((p) => p.then(() => settled++));
  await sleep(5);
  expect(r.batches).toEqual([[1, 2, 3, 4]]);
  expect(settled).toBe(0);
  r.finish[0]();
  await Promise.all(calls);
  expect(settled).toBe(3);
});

test('a full batch is flushed at once, before the turn ends', () => {
  const r = recorder();
  const b = new Batcher(r.flushFn, { max: 3, inFlight: 1 });
  void b.add([1, 2]);
  expect(r.batches).toEqual([]);
  void b.add([3]);
  expect(r.batches).toEqual([[1, 2, 3]]);
  // the cap does not hold back a full batch either
  void b.add([4, 5, 6]);
  expect(r.batches).toEqual([[1, 2, 3], [4, 5, 6]]);
});

test('inFlight: items that come while a flush runs wait for it and then go together', async () => {
  const r = recorder();
  const b = new Batcher(r.flushFn, { max: 100, inFlight: 1 });
  const first = b.add([1]);
  await sleep(5);
  expect(r.batches).toEqual([[1]]);
  const later = [b.add([2]), b.add([3])];
  await sleep(5);
  void b.add([4]);
  await sleep(5);
  expect(r.batches).toEqual([[1]]); // still one flush running: 2, 3 and 4 wait
  r.finish[0]();
  await first;
  await sleep(5);
  expect(r.batches).toEqual([[1], [2, 3, 4]]);
  r.finish[1]();
  await Promise.all(later);
});

test('without a cap, flushes overlap', async () => {
  const r = recorder();
  const b = new Batcher(r.flushFn, { max: 100 });
  void b.add([1]);
  await sleep(5);
  void b.add([2]);
  await sleep(5);
  expect(r.batches).toEqual([[1], [2]]);
});

test('everyMs: the first item after a pause goes at once, the stream after it once per interval', async () => {
  const flushedAt: Array<{ items: number[]; at: number }> = [];
  const b = new Batcher<number>(async (items) => void flushedAt.push({ items, at: performance.now() }), { max: 1000, everyMs: 50 });
  const t0 = performance.now();
  await b.add([0]);
  expect(flushedAt[0].at - t0).toBeLessThan(20);
  // a stream of single items every ~5 ms for 200 ms
  const pending: Array<Promise<void>> = [];
  for (let i = 1; i <= 40; i++) {
    pending.push(b.add([i]));
    await sleep(5);
  }
  await Promise.all(pending);
  // every item flushed exactly once, in order
  expect(flushedAt.flatMap((f) => f.items)).toEqual(Array.from({ length: 41 }, (_, i) => i));
  // far fewer flushes than items, and never two within the interval (timers may fire a millisecond early)
  expect(flushedAt.length).toBeLessThanOrEqual(7);
  for (let i = 1; i < flushedAt.length; i++) expect(flushedAt[i].at - flushedAt[i - 1].at).toBeGreaterThanOrEqual(45);
  // after a pause the next item goes at once again
  await sleep(80);
  const t1 = performance.now();
  await b.add([41]);
  expect(flushedAt.at(-1)!.at - t1).toBeLessThan(20);
});

test('a failed flush rejects every caller in it, and the batcher goes on', async () => {
  const r = recorder();
  const b = new Batcher(r.flushFn, { max: 100, inFlight: 1 });
  const failing = [b.add([1]), b.add([2])];
  await sleep(5);
  const queued = b.add([3]);
  r.finish[0](new Error('redis away'));
  for (const p of failing) await expect(p).rejects.toThrow('redis away');
  await sleep(5);
  expect(r.batches).toEqual([[1, 2], [3]]);
  r.finish[1]();
  await expect(queued).resolves.toBeUndefined();
});
