import type { Context } from 'hono';
import { ValidationError } from '../errors.js';
import { jsonFieldErrors } from './json-guard.js';

/** JSON is UTF-8; a decoder that replaced bad bytes with U+FFFD would store text the sender never wrote. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The JSON body, or a 400: not UTF-8, not JSON, or holding what cannot be
 * stored (NUL, lone surrogates, numbers out of range, nesting too deep),
 * each bad field named. Every route that reads a body reads it here.
 */
export async function readJson(c: Context): Promise<unknown> {
  const bytes = await c.req.arrayBuffer();
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ValidationError([{ path: '(body)', message: 'is not valid UTF-8' }]);
  }
  if (!text.trim()) throw new ValidationError([{ path: '(body)', message: 'a JSON body is required' }]);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ValidationError([{ path: '(body)', message: 'is not valid JSON' }]);
  }
  const errors = jsonFieldErrors(body);
  if (errors.length) throw new ValidationError(errors, 'The body has values that cannot be accepted.');
  return body;
}
