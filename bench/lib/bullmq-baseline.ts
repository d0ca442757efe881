import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';

/**
 * Bare BullMQ on the same Redis: how fast jobs go from producer to a no-op
 * worker. Herald's figures are printed as a ratio of this, measured in the
 * same run, because the machine is shared and absolute times drift.
 */
export async function bareBullmq(opts: {
  redisUrl: string;
  jobs: number;
  /** 'bulk': addBulk in chunks; 'single': one add per job, `inFlight` at a time */
  mode: 'bulk' | 'single';
  inFlight?: number;
  concurrency?: number;
}): Promise<{ perSecond: number; seconds: number }> {
  const prefix = `bench-baseline-${process.pid}-${Date.now()}`;
  const connection = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('baseline', { connection, prefix });
  let done = 0;
  let resolveDone!: () => void;
  const allDone = new Promise<void>((r) => (resolveDone = r));
  const worker = new Worker(
    'baseline',
    async () => {
      if (++done === opts.jobs) resolveDone();
    },
    { connection: new Redis(opts.redisUrl, { maxRetriesPerRequest: null }), prefix, concurrency: opts.concurrency ?? 100 },
  );
  await worker.waitUntilReady();
  const payload = { title: 'baseline', content: 'x'.repeat(100) };
  const started = performance.now();
  if (opts.mode === 'bulk') {
    for (let i = 0; i < opts.jobs; i += 1000) {
      const n = Math.min(1000, opts.jobs - i);
      await queue.addBulk(Array.from({ length: n }, () => ({ name: 'j', data: payload, opts: { priority: 3, removeOnComplete: true } })));
    }
  } else {
    let next = 0;
    const lane = async () => {
      while (next < opts.jobs) {
        next++;
        await queue.add('j', payload, { priority: 3, removeOnComplete: true });
      }
    };
    await Promise.all(Array.from({ length: opts.inFlight ?? 64 }, lane));
  }
  await allDone;
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  await connection.quit();
  return { perSecond: opts.jobs / seconds, seconds };
}
