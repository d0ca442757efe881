import { expect, test } from 'vitest';
import { Sweeper, type Sweepable } from '../src/realtime/sweeper.js';

interface Item extends Sweepable {
  id: number;
}
const items = (n: number): Item[] => Array.from({ length: n }, (_, id) => ({ id, sweepIndex: -1 }));

test('every item is visited once per period, a small slice per tick (10 ms ticks by default)', () => {
  const visits = new Map<number, number>();
  const perTick: number[] = [];
  let inTick = 0;
  const sweeper = new Sweeper<Item>((item) => {
    inTick++;
    visits.set(item.id, (visits.get(item.id) ?? 0) + 1);
  }, { periodMs: 1000 });
  for (const item of items(19_000)) sweeper.add(item);
  for (let t = 0; t < 100; t++) {
    inTick = 0;
    sweeper.tick(t * 10);
    perTick.push(inTick);
  }
  expect(Math.max(...perTick)).toBe(190);
  expect(visits.size).toBe(19_000);
  expect([...visits.values()].every((v) => v === 1)).toBe(true);
});

test('an item removed while visited (a closed socket) does not make the sweep skip the one moved into its slot', () => {
  const seen: number[] = [];
  const sweeper = new Sweeper<Item>((item) => {
    seen.push(item.id);
    if (item.id % 3 === 0) sweeper.remove(item);
  }, { periodMs: 100, tickMs: 100 });
  for (const item of items(10)) sweeper.add(item);
  sweeper.tick(0);
  expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(sweeper.size).toBe(6);
});
