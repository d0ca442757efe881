import { expect, test } from 'vitest';
import { Interner } from '../src/realtime/intern.js';

test('equal lists come back as one shared, frozen array; past the cap lists are copied, not pooled', () => {
  const pool = new Interner(2);
  const a = pool.list(['staff', 'manager']);
  expect(pool.list(['staff', 'manager'])).toBe(a);
  expect(Object.isFrozen(a)).toBe(true);
  expect(() => (a as string[]).push('x')).toThrow();
  expect(pool.list(['staff'])).not.toBe(a);
  expect(pool.list(['staff', 'manager'])).toBe(a);
  // two lists pooled: a third is answered but not kept
  const c = pool.list(['cook']);
  expect(c).toEqual(['cook']);
  expect(pool.list(['cook'])).not.toBe(c);
  expect(pool.string('acme')).toBe('acme');
});
