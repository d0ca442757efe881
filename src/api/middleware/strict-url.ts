import type { MiddlewareHandler } from 'hono';
import { ValidationError, type FieldError } from '../../errors.js';

interface RoutePattern {
  method: string;
  path: string;
}

/** Why a raw (percent-encoded) URL component cannot be taken, or null when it decodes to storable text. */
function whyBad(raw: string): string | null {
  if (!raw.includes('%')) return null;
  let text: string;
  try {
    text = decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    // a stray %, a bad hex pair, invalid UTF-8 or an encoded surrogate half (%ED%A0%80)
    return 'is not valid percent-encoded UTF-8';
  }
  return text.includes('\u0000') ? 'contains a NUL character (%00), which cannot be stored' : null;
}

/** The route parameter a path segment falls on (`user_id` in /recipients/:user_id), preferring routes of this method. */
function paramName(routes: readonly RoutePattern[], method: string, segments: string[], index: number): string | undefined {
  const fits = (r: RoutePattern) => {
    const parts = r.path.split('/');
    return (
      parts.length === segments.length &&
      parts[index].startsWith(':') &&
      parts.every((part, i) => i === index || part.startsWith(':') || part === segments[i])
    );
  };
  const sameMethod = (r: RoutePattern) => r.method === method || r.method === 'ALL' || (method === 'HEAD' && r.method === 'GET');
  const route = routes.find((r) => sameMethod(r) && fits(r)) ?? routes.find(fits);
  // `:id{[0-9]+}` and `:id?` name the parameter `id`
  return route?.path.split('/')[index].slice(1).replace(/[{?].*$/, '');
}

/** One entry per path segment or query parameter that does not decode; named by parameter. */
export function urlErrors(url: string, method: string, routes: readonly RoutePattern[]): FieldError[] {
  const errors: FieldError[] = [];
  const start = url.indexOf('/', url.indexOf(':') + 3);
  const hash = url.indexOf('#');
  const end = hash === -1 ? url.length : hash;
  const q = url.indexOf('?');
  const pathEnd = q === -1 || q > end ? end : q;
  const segments = url.slice(start, pathEnd).split('/');
  segments.forEach((segment, i) => {
    const why = whyBad(segment);
    if (why) errors.push({ path: paramName(routes, method, segments, i) ?? 'path', message: why });
  });
  if (pathEnd < end) {
    for (const pair of url.slice(pathEnd + 1, end).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      const rawName = eq === -1 ? pair : pair.slice(0, eq);
      const badName = whyBad(rawName);
      if (badName) {
        errors.push({ path: rawName, message: `(a parameter name) ${badName}` });
        continue;
      }
      const why = eq === -1 ? null : whyBad(pair.slice(eq + 1));
      if (why) errors.push({ path: decodeURIComponent(rawName.replace(/\+/g, ' ')), message: why });
    }
  }
  return errors;
}

/**
 * Refuses, before any route runs, a URL whose path segments or query
 * parameters do not decode to storable text: malformed percent-encoding
 * or a NUL. Hono decodes leniently (a malformed sequence stays as it was
 * sent), so without this a route would see `%E0` literally, or decode a
 * second time and throw. `routes` (the app's own, read per request) lets
 * a bad path segment be named by its route parameter.
 */
export function strictUrl(routes: () => readonly RoutePattern[]): MiddlewareHandler {
  return async function refuseBadUrl(c, next) {
    const url = c.req.url;
    // no % means nothing is encoded: nothing can be malformed, and a NUL can only arrive as %00
    if (url.includes('%')) {
      const errors = urlErrors(url, c.req.method, routes());
      if (errors.length) throw new ValidationError(errors, 'The URL has parameters that are not valid percent-encoded text.');
    }
    await next();
  };
}
