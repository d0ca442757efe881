import { escapeUnstorable, isStorable, UNSTORABLE } from '../db/text.js';
import type { FieldError } from '../errors.js';

/** How deep a request body may nest (the body itself is level 1). */
export const MAX_JSON_DEPTH = 32;
/** Entries reported for one body; a body full of bad strings needs only a sample. */
const MAX_REPORTED = 20;

function whyUnstorable(s: string): string | null {
  // the common case, three times faster than the regex: nothing to report
  if (isStorable(s)) return null;
  const m = UNSTORABLE.exec(s);
  if (!m) return null;
  const code = m[0].charCodeAt(0);
  if (code === 0) return 'contains a NUL character (U+0000), which cannot be stored';
  return `contains a lone surrogate (U+${code.toString(16).toUpperCase()}), which is not valid Unicode`;
}

/** A value met by the walk; its path is built from the parent links only when it is reported. */
interface Node {
  value: unknown;
  key: string | number | null;
  parent: Node | null;
  depth: number;
}

function pathOf(node: Node, lastKey?: string): string {
  const parts: (string | number)[] = lastKey === undefined ? [] : [lastKey];
  for (let n: Node | null = node; n && n.key !== null; n = n.parent) parts.push(n.key);
  return parts.length ? parts.reverse().join('.') : '(body)';
}

/**
 * Checks a parsed JSON body for what PostgreSQL or the code after it cannot
 * take: NUL characters and lone surrogates in any string or object key,
 * numbers JSON.parse turned into Infinity (like 1e400), and nesting deeper
 * than `maxDepth`. The walk keeps its own stack: a body nested 100,000
 * levels deep (JSON.parse takes it) must not overflow the call stack here,
 * and nothing recursive (JSON.stringify, zod) sees a body this refuses.
 * Returns one entry per bad field, named by its path (`metadata.k`,
 * `notifications.700.title`).
 */
export function jsonFieldErrors(body: unknown, maxDepth = MAX_JSON_DEPTH): FieldError[] {
  const errors: FieldError[] = [];
  const stack: Node[] = [{ value: body, key: null, parent: null, depth: 1 }];
  while (stack.length && errors.length < MAX_REPORTED) {
    const node = stack.pop()!;
    const value = node.value;
    if (typeof value === 'string') {
      const why = whyUnstorable(value);
      if (why) errors.push({ path: pathOf(node), message: why });
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) errors.push({ path: pathOf(node), message: 'is a number out of range' });
    } else if (value !== null && typeof value === 'object') {
      if (node.depth > maxDepth) {
        errors.push({ path: pathOf(node), message: `nests deeper than ${maxDepth} levels` });
        continue;
      }
      const depth = node.depth + 1;
      // pushed last to first, so fields are checked, and reported, in body order
      if (Array.isArray(value)) {
        for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], key: i, parent: node, depth });
      } else {
        const keys = Object.keys(value);
        for (let i = keys.length - 1; i >= 0; i--) {
          const key = keys[i];
          const why = whyUnstorable(key);
          if (why) errors.push({ path: pathOf(node, escapeUnstorable(key)), message: `key ${why}` });
          else stack.push({ value: (value as Record<string, unknown>)[key], key, parent: node, depth });
        }
      }
    }
  }
  return errors.slice(0, MAX_REPORTED);
}
