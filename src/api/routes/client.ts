import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { Hono } from 'hono';
import type { ApiEnv } from '../env.js';

/**
 * The client's entry point, and the options both the api and
 * scripts/build-client.ts bundle it with. Run from source (tsx) it is the
 * TypeScript; in the production image, which holds only tsc's output, it is
 * the compiled JavaScript beside this compiled file.
 */
export const CLIENT_ENTRY = fileURLToPath(new URL(`../../client/index.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
export const CLIENT_BUILD: BuildOptions = { entryPoints: [CLIENT_ENTRY], bundle: true, format: 'esm', minify: true, target: 'es2020', platform: 'neutral', legalComments: 'none' };

export const CLIENT_PATH = '/client/herald-client.js';

export interface ClientBundle {
  code: string;
  /** the first 16 hex digits of the code's SHA-256: the ETag and the `?v=` that makes it immutable */
  hash: string;
}

/** Bundles src/client with esbuild in memory (esbuild is loaded only when the client is first asked for). */
export async function bundleClient(): Promise<ClientBundle> {
  const { build } = await import('esbuild');
  const out = await build({ ...CLIENT_BUILD, write: false });
  const code = out.outputFiles![0].text;
  return { code, hash: createHash('sha256').update(code).digest('hex').slice(0, 16) };
}

/**
 * GET /client/herald-client.js: the ESM client, open to everyone (mounted
 * outside /api/v1). Bundled on the first request and kept: it changes only
 * with the code.
 *
 * Caching: a page that asks for `?v=<hash>` names this exact build, so that
 * URL's answer can never change and may be cached for a year, immutable.
 * Without it (or with an old hash, after a deploy) the URL stays the same
 * across builds, so the answer is `no-cache`: browsers keep it but
 * revalidate with the ETag each time, and get a 304 until the code changes.
 */
export function clientRoutes() {
  const app = new Hono<ApiEnv>();
  let bundle: Promise<ClientBundle> | undefined;
  app.get(CLIENT_PATH, async (c) => {
    bundle ??= bundleClient().catch((err) => {
      bundle = undefined;
      throw err;
    });
    const { code, hash } = await bundle;
    const etag = `"${hash}"`;
    const headers = {
      'content-type': 'text/javascript; charset=UTF-8',
      etag,
      'cache-control': c.req.query('v') === hash ? 'public, max-age=31536000, immutable' : 'no-cache',
    };
    if (c.req.header('if-none-match')?.split(',').some((t) => t.trim() === etag)) return c.body(null, 304, headers);
    return c.body(code, 200, headers);
  });
  return app;
}
