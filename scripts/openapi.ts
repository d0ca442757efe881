/**
 * `npm run openapi`: writes the api's OpenAPI document to docs/openapi.json
 * and the TypeScript types openapi-typescript generates from it to
 * types/herald-api.d.ts, for callers who want typed requests and answers.
 * Both files are committed; test/openapi.test.ts fails when either differs
 * from what this script writes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript';
import { buildOpenApiDocument } from '../src/api/openapi/document.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DOCUMENT_PATH = join(ROOT, 'docs', 'openapi.json');
export const TYPES_PATH = join(ROOT, 'types', 'herald-api.d.ts');

/** The two files' contents, as this script writes them. */
export async function openApiFiles(): Promise<{ document: string; types: string }> {
  const doc = buildOpenApiDocument();
  // silent: openapi-typescript's own progress lines; its validation errors still throw
  // defaultNonNullable off: a field with a default is one a caller may leave out
  const nodes = await openapiTS(doc as unknown as OpenAPI3, { silent: true, defaultNonNullable: false });
  return { document: `${JSON.stringify(doc, null, 2)}\n`, types: COMMENT_HEADER + astToString(nodes) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { document, types } = await openApiFiles();
  for (const [path, text] of [
    [DOCUMENT_PATH, document],
    [TYPES_PATH, types],
  ] as const) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    console.log(`wrote ${path.slice(ROOT.length + 1)}`);
  }
}
