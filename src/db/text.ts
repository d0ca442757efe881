/**
 * Characters PostgreSQL cannot store: NUL (in text or jsonb) and lone UTF-16
 * surrogates (jsonb refuses their escape; text silently turns them into
 * U+FFFD). Requests carrying them are refused where they enter; what must be
 * kept anyway (the record of a refused notification) is written with them
 * replaced.
 */
export const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/** String.prototype.isWellFormed (in Node 20, not yet in the ES2023 typings): false when a lone surrogate is present. */
const isWellFormed = (s: string) => (s as string & { isWellFormed(): boolean }).isWellFormed();

/** True when PostgreSQL can store `s` as it is. */
export const isStorable = (s: string): boolean => !s.includes('\u0000') && isWellFormed(s);

/** `s` with every character PostgreSQL cannot store replaced by U+FFFD. */
export const storableText = (s: string): string => (isStorable(s) ? s : s.replace(UNSTORABLE_ALL, '\uFFFD'));

/** `s` with every character PostgreSQL cannot store written as a \u escape, for messages that name it. */
export const escapeUnstorable = (s: string): string => s.replace(UNSTORABLE_ALL, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
