/**
 * A PostgreSQL array literal for a bound parameter. The query builder under
 * MikroORM expands a JS array binding into a list of values, so arrays are
 * passed as one literal string and cast (`?::text[]`).
 */
export function pgArray(list: readonly string[]): string {
  return `{${list.map((s) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}
