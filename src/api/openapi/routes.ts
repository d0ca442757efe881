import { Hono } from 'hono';
import type { ApiEnv } from '../env.js';
import { buildOpenApiDocument } from './document.js';
import { renderDocsPage } from './docs-page.js';

/**
 * GET /openapi.json and GET /docs, open to everyone (mounted outside
 * /api/v1, so no token and no rate limit). Both are built on first request
 * and kept: they change only with the code.
 */
export function openApiRoutes() {
  const app = new Hono<ApiEnv>();
  let built: { json: string; html: string } | undefined;
  const pages = () => {
    if (!built) {
      const doc = buildOpenApiDocument();
      built = { json: JSON.stringify(doc), html: renderDocsPage(doc) };
    }
    return built;
  };
  app.get('/openapi.json', (c) => c.body(pages().json, 200, { 'content-type': 'application/json; charset=UTF-8' }));
  app.get('/docs', (c) => c.html(pages().html));
  return app;
}
