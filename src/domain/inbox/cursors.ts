/** Compares two inbox cursors (bigint values as decimal strings, no leading zeros) without parsing. */
export function compareCursors(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The largest cursor: cursors are PostgreSQL bigint values. */
export const MAX_CURSOR = '9223372036854775807';

/** True when `s` is a cursor PostgreSQL can compare: 1–19 decimal digits, at most MAX_CURSOR (a larger one is refused as out of range). */
export function isCursor(s: string): boolean {
  return /^\d{1,19}$/.test(s) && (s.length < 19 || s <= MAX_CURSOR);
}
