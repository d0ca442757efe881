/**
 * `npm run rekey` (`node dist/scripts/rekey.js` in the image; `npx tsx
 * scripts/rekey.ts` from a source checkout): reseals every stored contact
 * value that is plain or sealed with a key other than the first of
 * HERALD_DATA_KEYS, and recomputes the blind indexes (src/crypto/rekey.ts).
 * Safe to run while Herald runs, and to run again.
 *
 *   --tenant <t>   only that tenant's rows
 *   --batch <n>    rows per transaction (500)
 *
 * Exits 0 when nothing is left under another key, 1 otherwise (the report
 * says why: values sealed with a key no longer listed, or rows still being
 * written by a process that has not been restarted with the new keys).
 */
import { parseArgs } from 'node:util';
import { DEV_DATA_KEYS_WARNING, loadConfigOrExit } from '../src/config.js';
import { parseDataKeys } from '../src/crypto/keyring.js';
import { rekey } from '../src/crypto/rekey.js';
import { openOrm } from '../src/db/orm.js';

const { values } = parseArgs({ options: { tenant: { type: 'string' }, batch: { type: 'string', default: '500' } } });
const batchSize = Number(values.batch);
if (!Number.isInteger(batchSize) || batchSize < 1) {
  console.error('--batch must be a positive whole number');
  process.exit(64);
}

const config = loadConfigOrExit();
if (config.dataKeysAreDefault) console.error(`warning: ${DEV_DATA_KEYS_WARNING}`);
const keys = parseDataKeys(config.HERALD_DATA_KEYS);
const orm = await openOrm({ url: config.DATABASE_URL, poolMax: 2 });
console.log(`rekey: sealing with key '${keys.primary.id}'${values.tenant ? ` (tenant ${values.tenant})` : ''}`);

let lastLine = 0;
try {
  const reports = await rekey(orm.em.fork(), keys, {
    batchSize,
    tenant: values.tenant,
    onProgress: (p) => {
      if (Date.now() - lastLine < 1000) return;
      lastLine = Date.now();
      console.log(`rekey: ${p.table}: ${p.resealed} rows resealed (pass ${p.pass}, ${p.busy} busy, ${p.unreadable} unreadable)`);
    },
  });
  let ok = true;
  for (const r of reports) {
    console.log(`rekey: ${r.table}: ${r.resealed} rows resealed, ${r.remaining} left under another key`);
    for (const u of r.unreadable.slice(0, 20)) console.log(`rekey:   cannot open ${JSON.stringify(u)}`);
    if (r.remaining) ok = false;
  }
  const total = reports.reduce((n, r) => n + r.resealed, 0);
  console.log(`rekey: done: ${total} rows resealed${ok ? ', every value is sealed with the first key' : ''}`);
  if (!ok)
    console.log(
      'rekey: some values are not under the first key yet: values sealed with a key no longer listed cannot be opened (list it again), ' +
        'and a process still running with the old HERALD_DATA_KEYS writes with it (restart it), then run rekey again',
    );
  process.exitCode = ok ? 0 : 1;
} finally {
  await orm.close();
}
