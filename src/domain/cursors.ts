/** Compares two inbox cursors (bigint values as decimal strings, no leading zeros) without parsing. */
export function compareCursors(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
