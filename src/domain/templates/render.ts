/**
 * Template rendering. Placeholders are `{name}` (the 智链OS API's) and `{{name}}`,
 * both with dotted paths into the variables (`{{order.id}}`, `{items.0}`).
 * A placeholder whose value is missing (absent or null) is an error naming
 * it, never a silent blank. Values are HTML-escaped only where the output is
 * HTML (an email body); plain-text channels get them as they are.
 */
export type Vars = Record<string, unknown>;

const PATH = '[A-Za-z_][\\w-]*(?:\\.[\\w-]+)*';
/** `{{ path }}` (spaces allowed) or `{path}`; a JSON-ish `{ "a": 1 }` or CSS `{color: red}` is left alone. */
const PLACEHOLDER = new RegExp(`\\{\\{\\s*(${PATH})\\s*\\}\\}|\\{(${PATH})\\}`, 'g');

/** The paths a text refers to, in order of first use. */
export function placeholders(text: string): string[] {
  const seen = new Set<string>();
  for (const m of text.matchAll(PLACEHOLDER)) seen.add(m[1] ?? m[2]);
  return [...seen];
}

/** The value at a dotted path, or undefined. */
export function lookup(vars: Vars, path: string): unknown {
  let cur: unknown = vars;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (!Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);

/** How a value reads in text: arrays joined by ", ", objects as JSON. */
function show(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(show).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export interface Rendered {
  text: string;
  /** placeholders with no value (each named once) */
  missing: string[];
}

export function renderText(text: string, vars: Vars, opts: { html?: boolean } = {}): Rendered {
  const missing = new Set<string>();
  const out = text.replace(PLACEHOLDER, (whole, a: string | undefined, b: string | undefined) => {
    const path = (a ?? b)!;
    const value = lookup(vars, path);
    if (value === undefined || value === null) {
      missing.add(path);
      return whole;
    }
    const s = show(value);
    return opts.html ? escapeHtml(s) : s;
  });
  return { text: out, missing: [...missing] };
}
