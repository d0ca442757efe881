/** The retention purge walks the primary key: every id minted before the cutoff sorts below uuidv7Floor(cutoff). */
import { expect, test } from 'vitest';
import { newId, uuidv7Floor } from '../src/domain/ids.js';

test('ids minted before a time sort below its floor, ids minted at or after it do not', () => {
  const cutoff = new Date('2026-08-24T03:17:00.123Z');
  const floor = uuidv7Floor(cutoff);
  expect(floor).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-0000-0000-000000000000$/);
  for (const dt of [1, 2, 999, 86_400_000, cutoff.getTime() - 1]) expect(newId(cutoff.getTime() - dt) < floor).toBe(true);
  for (const dt of [0, 1, 86_400_000]) expect(newId(cutoff.getTime() + dt) > floor).toBe(true);
});
