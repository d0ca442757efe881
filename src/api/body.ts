import type { Context } from 'hono';
import { ValidationError } from '../errors.js';

/** The JSON body, or a 400 that says it is not JSON. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (!text.trim()) throw new ValidationError([{ path: '(body)', message: 'a JSON body is required' }]);
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError([{ path: '(body)', message: 'is not valid JSON' }]);
  }
}
