import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { Hono } from 'hono';
import type { ApiEnv } from '../env.js';

/**
 * A script the api bundles from src/client and serves. Run from source (tsx)
 * its entry is the TypeScript; in the production image, which holds only
 * tsc's output, it is the compiled JavaScript beside this compiled file.
 */
export interface ClientScript {
  /** where the api serves it */
  path: string;
  /** the file scripts/build-client.ts writes it to, under dist-client/ */
  file: string;
  /** esbuild's entry point */
  entry: string;
}

const sourceOf = (module: string) =>
  fileURLToPath(new URL(`../../client/${module}.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));

/** HeraldClient alone: for apps that draw their own inbox. */
export const CLIENT_SCRIPT: ClientScript = { path: '/client/herald-client.js', file: 'herald-client.js', entry: sourceOf('index') };
/** The `<herald-inbox>` element, with HeraldClient and everything the client script exports. */
export const INBOX_SCRIPT: ClientScript = { path: '/client/herald-inbox.js', file: 'herald-inbox.js', entry: sourceOf('widget/index') };
export const CLIENT_SCRIPTS: readonly ClientScript[] = [CLIENT_SCRIPT, INBOX_SCRIPT];

export const CLIENT_PATH = CLIENT_SCRIPT.path;
export const INBOX_PATH = INBOX_SCRIPT.path;

/** The options every client script is bundled with, by the api and by scripts/build-client.ts alike. */
export const CLIENT_BUILD: BuildOptions = { bundle: true, format: 'esm', minify: true, target: 'es2020', platform: 'neutral', legalComments: 'none' };

export interface ClientBundle {
  code: string;
  /** the first 16 hex digits of the code's SHA-256: the ETag and the `?v=` that makes it immutable */
  hash: string;
}

/** Bundles one client script with esbuild in memory (esbuild is loaded only when a script is first asked for). */
export async function bundleClient(script: ClientScript = CLIENT_SCRIPT): Promise<ClientBundle> {
  const { build } = await import('esbuild');
  const out = await build({ ...CLIENT_BUILD, entryPoints: [script.entry], write: false });
  const code = out.outputFiles![0].text;
  return { code, hash: createHash('sha256').update(code).digest('hex').slice(0, 16) };
}

/**
 * GET /client/herald-client.js and /client/herald-inbox.js: the ESM
 * scripts, open to everyone (mounted outside /api/v1). Each is bundled on
 * its first request and kept: it changes only with the code.
 *
 * Caching: a page that asks for `?v=<hash>` names this exact build, so that
 * URL's answer can never change and may be cached for a year, immutable.
 * Without it (or with an old hash, after a deploy) the URL stays the same
 * across builds, so the answer is `no-cache`: browsers keep it but
 * revalidate with the ETag each time, and get a 304 until the code changes.
 */
export function clientRoutes() {
  const app = new Hono<ApiEnv>();
  for (const script of CLIENT_SCRIPTS) {
    let bundle: Promise<ClientBundle> | undefined;
    app.get(script.path, async (c) => {
      bundle ??= bundleClient(script).catch((err) => {
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
  }
  return app;
}
