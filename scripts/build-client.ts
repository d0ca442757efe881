import { mkdir, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { bundleClient } from '../src/api/routes/client.js';

/** Writes the browser client to dist-client/herald-client.js (the api serves the same bundle at /client/herald-client.js). */
const { code, hash } = await bundleClient();
await mkdir('dist-client', { recursive: true });
await writeFile('dist-client/herald-client.js', code);
console.log(`dist-client/herald-client.js: ${code.length} bytes, ${gzipSync(code).length} gzipped, hash ${hash}`);
