import { Context, Liquid, type Template } from 'liquidjs';
import { ParsedTemplateCache } from './cache.js';

/**
 * Template texts are Liquid (conditionals, loops, filters). The 智链OS API's
 * `{name}` placeholders keep working: a single-brace placeholder of a path
 * is read as `{{name}}` before parsing (see translateBraces).
 *
 * The engine is sandboxed: no tag reads a file (include, render and layout
 * are refused when a text is parsed, and the lookup table behind them is
 * empty anyway), only a value's own properties are reachable, and a render
 * has time and memory limits.
 */
export type Vars = Record<string, unknown>;

export interface RenderContext {
  /** IANA zone for the `date` filter (default UTC) */
  timezone?: string | null;
  /** BCP 47 locale for `currency` and the names `date` prints (default en) */
  locale?: string | null;
}

/** A text rendered, or the variables it needed and did not get (each named once, in order of use). */
export interface LiquidRendered {
  text: string;
  missing: string[];
}

const PATH = '[A-Za-z_][\\w-]*(?:\\.[\\w-]+)*';
/** What translateBraces leaves alone: Liquid outputs and tags, and whole raw/comment blocks. */
const PROTECTED = /\{%-?\s*raw\s*-?%\}[\s\S]*?\{%-?\s*endraw\s*-?%\}|\{%-?\s*comment\s*-?%\}[\s\S]*?\{%-?\s*endcomment\s*-?%\}|\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g;
const SINGLE = new RegExp(`\\{(${PATH})\\}`, 'g');

/**
 * `{name}` → `{{name}}` outside Liquid's own `{{ }}` and `{% %}`; a
 * JSON-ish `{ "a": 1 }` or CSS `{color: red}` is not a placeholder and stays.
 */
export function translateBraces(text: string): string {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(PROTECTED)) {
    out += text.slice(last, m.index).replace(SINGLE, '{{$1}}') + m[0];
    last = m.index + m[0].length;
  }
  return out + text.slice(last).replace(SINGLE, '{{$1}}');
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);

/** How a value reads in text: arrays joined by ", ", objects as JSON, null as nothing. */
function show(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(show).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Thrown while parsing a text that uses a tag reading other files. */
const noFiles = (tag: string) => ({
  parse() {
    throw new Error(`the ${tag} tag is not available: templates cannot read files`);
  },
  render() {
    return '';
  },
});

/** `{{ 1234.5 | currency: "CNY" }}` → ¥1,234.50 in a zh-CN recipient's format (code defaults to CNY). */
function currency(this: { context: Context }, value: unknown, code: unknown = 'CNY'): string {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n)) return show(value);
  const locale = (this.context.opts.locale as string | undefined) || 'en';
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency: String(code) }).format(n);
  } catch {
    return new Intl.NumberFormat('en', { style: 'currency', currency: String(code) }).format(n);
  }
}

function engine(html: boolean): Liquid {
  const liquid = new Liquid({
    strictVariables: true,
    strictFilters: true,
    ownPropertyOnly: true,
    // {% if x %} and `| default` may test a variable the caller left out; printing one is the error
    lenientIf: true,
    // no file system: every partial lookup goes to this empty table and fails
    templates: {},
    relativeReference: false,
    dynamicPartials: false,
    // values print as they always have (lists joined, objects as JSON); HTML bodies escape them
    outputEscape: html ? (v: unknown) => escapeHtml(show(v)) : show,
    timezoneOffset: 'UTC',
    locale: 'en',
    // a template is a few KB of text; these stop a runaway loop or a huge output
    parseLimit: 1_000_000,
    renderLimit: 1_000,
    memoryLimit: 10_000_000,
  });
  for (const tag of ['include', 'render', 'layout']) liquid.registerTag(tag, noFiles(tag));
  liquid.registerFilter('currency', currency);
  return liquid;
}

const engines = { text: engine(false), html: engine(true) };
// made on first use: cache.ts and this module import each other (through templates.ts)
let parsed: ParsedTemplateCache<Template[]> | undefined;

/** The parsed form of a text, from the process-wide cache (keyed by the text itself, so a change never serves a stale parse). */
export function parseText(text: string, opts: { html?: boolean } = {}): Template[] {
  const mode = opts.html ? 'html' : 'text';
  return (parsed ??= new ParsedTemplateCache<Template[]>()).get(`${mode}\u001f${text}`, () => engines[mode].parse(translateBraces(text)));
}

/** The Liquid error of a text that does not parse, or null. */
export function syntaxError(text: string, opts: { html?: boolean } = {}): string | null {
  try {
    parseText(text, opts);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** `a['1'].b` → `a.1.b`: the dotted form the 422s and `variables` use. */
const dotted = (path: string) => path.replace(/\[['"]?([^'"\]]+)['"]?\]/g, '.$1');

/** The variables (dotted paths) a text reads from the caller, in order of first use; loop and assigned names are not. */
export function variablesOf(text: string): string[] {
  return engines.text.globalFullVariablesSync(parseText(text)).map(dotted);
}

/** A copy of `vars` without null values: a null is as missing as an absent key. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [k, withoutNulls(v)]),
  );
}

/** Gives `path` a blank value (`{}` when deeper paths are read through it) in `vars`, in place; false when its parent is not an object. */
function fill(vars: Record<string, unknown>, path: string[], blank: unknown): boolean {
  let cur: Record<string, unknown> = vars;
  for (const key of path.slice(0, -1)) {
    const next = Object.prototype.hasOwnProperty.call(cur, key) ? cur[key] : undefined;
    if (next === undefined) cur[key] = {};
    else if (next === null || typeof next !== 'object') return false;
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = blank;
  return true;
}

const UNDEFINED = /^undefined variable: ([^,]+)/;
/** How many missing variables one text may name before the search stops. */
const MISSING_MAX = 100;

/**
 * Renders a text with strict variables. Every variable it prints and
 * the caller did not give (absent or null) is named: each one found is
 * given a blank and the text rendered again, so one answer names them all.
 */
export function renderLiquid(text: string, vars: Vars, opts: { html?: boolean } & RenderContext = {}): LiquidRendered {
  const liquid = opts.html ? engines.html : engines.text;
  const tpl = parseText(text, opts);
  const scope = withoutNulls(vars) as Record<string, unknown>;
  const missing: string[] = [];
  const tried = new Set<string>();
  let used: string[] | undefined;
  const options = { ...liquid.options, timezoneOffset: opts.timezone || 'UTC', locale: opts.locale || 'en' };
  for (;;) {
    try {
      const ctx = new Context(scope, options, { sync: true }, { liquid });
      const out = liquid.renderSync(tpl, ctx) as string;
      return { text: missing.length ? text : out, missing };
    } catch (err) {
      const name = (err as Error).name === 'UndefinedVariableError' ? UNDEFINED.exec((err as Error).message)?.[1] : undefined;
      if (!name) throw err;
      const path = dotted(name);
      // the same name twice means filling it did not help (a loop variable's property, say): stop here
      if (tried.has(path)) return { text, missing };
      tried.add(path);
      // Liquid names the first absent step of a path ({{ order.id }} without order says "order"):
      // a step the text reads only through deeper paths is filled with {} to find those, and not named itself
      used ??= variablesOf(text);
      const deeper = used.some((u) => u.startsWith(`${path}.`));
      if (!deeper || used.includes(path)) missing.push(path);
      if (missing.length >= MISSING_MAX) return { text, missing };
      if (!fill(scope, path.split('.'), deeper ? {} : '')) {
        // a step on the way is a plain value ({{ c.d.e }} with c = 5): name the path the text reads
        const read = used.find((u) => u.startsWith(`${path}.`)) ?? path;
        if (!missing.includes(read)) missing.push(read);
        return { text, missing };
      }
    }
  }
}
