import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { CLIENT_SCRIPTS } from '../src/api/routes/client.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/**
 * Writes TypeScript declarations beside the bundles in `outDir`:
 * `herald-client.d.ts` and `herald-inbox.d.ts`, each re-exporting the
 * declarations tsc emits for src/client under `outDir/types/` (with the
 * api's generated types they refer to), so an app that copies dist-client
 * or points a `paths` mapping at it gets the same names and shapes the
 * bundles export. Throws with tsc's messages when the client does not
 * type-check.
 */
export async function emitClientDeclarations(outDir: string): Promise<string[]> {
  const typesDir = join(outDir, 'types');
  const entries = CLIENT_SCRIPTS.map((s) => s.entry);
  const program = ts.createProgram(entries, {
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: [],
    strict: true,
    skipLibCheck: true,
    declaration: true,
    emitDeclarationOnly: true,
    rootDir: ROOT,
    outDir: typesDir,
  });
  const diagnostics = ts.getPreEmitDiagnostics(program).concat(program.emit().diagnostics);
  if (diagnostics.length) {
    const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' };
    throw new Error(ts.formatDiagnostics(diagnostics, host));
  }
  // src/client/api-types.ts takes its shapes from the generated OpenAPI types: ship them alongside
  await mkdir(join(typesDir, 'types'), { recursive: true });
  await copyFile(join(ROOT, 'types/herald-api.d.ts'), join(typesDir, 'types/herald-api.d.ts'));
  const written: string[] = [];
  for (const [script, entry] of CLIENT_SCRIPTS.map((s, i) => [s, entries[i]] as const)) {
    const file = join(outDir, script.file.replace(/\.js$/, '.d.ts'));
    const target = './' + relative(dirname(file), join(typesDir, relative(ROOT, entry))).replace(/\.ts$/, '.js');
    await writeFile(file, `/** Types of ${script.path}: what it exports. */\nexport * from '${target}';\n`);
    written.push(file);
  }
  return written;
}
