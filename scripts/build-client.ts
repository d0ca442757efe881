import { mkdir, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { bundleClient, CLIENT_SCRIPTS } from '../src/api/routes/client.js';
import { emitClientDeclarations } from './client-declarations.js';

/** Writes each browser script to dist-client/ (the api serves the same bundles under /client/), and their declarations. */
await mkdir('dist-client', { recursive: true });
for (const script of CLIENT_SCRIPTS) {
  const { code, hash } = await bundleClient(script);
  await writeFile(`dist-client/${script.file}`, code);
  console.log(`dist-client/${script.file}: ${code.length} bytes, ${gzipSync(code).length} gzipped, hash ${hash}`);
}
for (const file of await emitClientDeclarations('dist-client')) console.log(`${file}: declarations`);
