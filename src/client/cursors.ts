/**
 * Inbox cursors are PostgreSQL bigints as decimal strings without leading
 * zeros: the longer one is larger, equal lengths compare as text.
 */
export function cursorAfter(a: string, b: string | null): boolean {
  if (b === null) return true;
  return a.length !== b.length ? a.length > b.length : a > b;
}
