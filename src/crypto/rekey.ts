import type { EntityManager } from '@mikro-orm/postgresql';
import { blindIndex, type IndexedKind } from './blind-index.js';
import type { Keyring } from './keyring.js';
import { openValue, sealedKeyId, sealValue, UnsealError } from './sealed-value.js';

/**
 * `npm run rekey`: reseals every stored contact value that is plain (written
 * before encryption) or sealed with a key other than the first of
 * HERALD_DATA_KEYS, and recomputes the blind indexes with that key.
 *
 * Safe while Herald runs: candidates are found by a keyset walk over the
 * primary key (no lock held), then each batch is read again under
 * `FOR UPDATE SKIP LOCKED` in its own transaction and rewritten from what
 * was read under the lock. A row a writer holds at that moment is skipped,
 * never waited for, and taken by the next pass; a writer that comes after
 * waits for the batch to commit and then writes over the resealed row with
 * its own values. No update is lost either way. Rows are not given a new
 * updated_at: their content did not change (and the scheduler reads a
 * delivery's updated_at to find stuck ones).
 *
 * Idempotent: a second run finds nothing to do.
 */

interface SealedColumn {
  name: string;
  /** one value, or an array of values (device tokens) */
  array?: boolean;
  /** sealed only in rows where this boolean column is true (a direct send's recipient is its address; other recipients are user ids) */
  onlyIf?: string;
}

interface SealedTable {
  table: string;
  /** primary key columns with their types, in key order */
  key: Array<[string, string]>;
  columns: SealedColumn[];
  indexes: Array<{ column: string; of: string; kind: IndexedKind }>;
}

/** Every place contact data is stored sealed. */
export const SEALED_TABLES: SealedTable[] = [
  {
    table: 'recipients',
    key: [
      ['tenant', 'text'],
      ['user_id', 'text'],
    ],
    columns: [
      { name: 'email' },
      { name: 'phone' },
      { name: 'wecom_user_id' },
      { name: 'feishu_open_id' },
      { name: 'webhook_url' },
      { name: 'push_tokens', array: true },
      { name: 'apns_tokens', array: true },
    ],
    indexes: [
      { column: 'email_bidx', of: 'email', kind: 'email' },
      { column: 'phone_bidx', of: 'phone', kind: 'phone' },
    ],
  },
  {
    table: 'deliveries',
    key: [['id', 'uuid']],
    columns: [{ name: 'address' }, { name: 'recipient', onlyIf: 'direct' }],
    indexes: [],
  },
  {
    table: 'dev_outbox',
    key: [['id', 'bigint']],
    columns: [{ name: 'address' }],
    indexes: [{ column: 'address_bidx', of: 'address', kind: 'address' }],
  },
];

export interface RekeyOptions {
  /** rows per transaction (default 500) */
  batchSize?: number;
  /** only this tenant's rows (default: every tenant) */
  tenant?: string;
  /** passes over a table while rows were skipped because a writer held them (default 10) */
  maxPasses?: number;
  /** ms between passes (default 200) */
  passPauseMs?: number;
  /** called after each batch */
  onProgress?: (p: { table: string; pass: number; resealed: number; busy: number; unreadable: number }) => void;
}

export interface TableReport {
  table: string;
  /** rows rewritten */
  resealed: number;
  /** rows whose values are sealed with a key HERALD_DATA_KEYS does not list (or fail authentication): left as they are */
  unreadable: Array<Record<string, string>>;
  /** rows still plain or under an older key when the run ended (unreadable ones, and any a writer kept busy or wrote with an older key) */
  remaining: number;
}

/** SQL that is true for a row with something to reseal; `$p` is the first key's value prefix. */
function staleSql(t: SealedTable): string {
  const parts = t.columns.map((c) => {
    const test = c.array
      ? `exists (select 1 from unnest(${c.name}) v where not starts_with(v, $p))`
      : `(${c.name} is not null and not starts_with(${c.name}, $p))`;
    return c.onlyIf ? `(${c.onlyIf} and ${test})` : test;
  });
  // an index missing beside its value (cannot happen through Herald's writes, but costs nothing to mend)
  parts.push(...t.indexes.map((i) => `(${i.of} is not null and ${i.column} is null)`));
  return `(${parts.join(' or ')})`;
}

const keyList = (t: SealedTable) => t.key.map(([k]) => k).join(', ');

/** The row's values resealed with the first key (those already under it kept as they are) and its indexes recomputed. */
function resealRow(keys: Keyring, t: SealedTable, row: Record<string, unknown>): Record<string, unknown> {
  const reseal = (v: string) => (sealedKeyId(v) === keys.primary.id ? v : sealValue(keys, openValue(keys, v)));
  const out: Record<string, unknown> = {};
  for (const [k] of t.key) out[k] = row[k];
  for (const c of t.columns) {
    const v = row[c.name] as string | string[] | null;
    if (c.onlyIf && !row[c.onlyIf]) out[c.name] = v;
    else if (c.array) out[c.name] = (v as string[]).map(reseal);
    else out[c.name] = v === null ? null : reseal(v as string);
  }
  for (const i of t.indexes) {
    const v = row[i.of] as string | null;
    out[i.column] = v === null ? null : blindIndex(keys, i.kind, openValue(keys, v));
  }
  return out;
}

async function rekeyTable(em: EntityManager, keys: Keyring, t: SealedTable, opts: RekeyOptions): Promise<TableReport> {
  const batch = opts.batchSize ?? 500;
  const prefix = `v1.${keys.primary.id}.`;
  const stale = staleSql(t).replaceAll('$p', '?');
  const staleParams = () => Array<string>((stale.match(/\?/g) ?? []).length).fill(prefix);
  const scope = opts.tenant === undefined ? 'true' : 'tenant = ?';
  const scopeParams = opts.tenant === undefined ? [] : [opts.tenant];
  const keyCols = keyList(t);
  const cols = [...new Set([...t.key.map(([k]) => k), ...t.columns.map((c) => c.name), ...t.columns.flatMap((c) => (c.onlyIf ? [c.onlyIf] : [])), ...t.indexes.map((i) => i.of)])];
  const written = [...t.columns.map((c) => c.name), ...t.indexes.map((i) => i.column)];
  const recordType = [
    ...t.key.map(([k, type]) => `${k} ${type}`),
    ...t.columns.map((c) => `${c.name} ${c.array ? 'text[]' : 'text'}`),
    ...t.indexes.map((i) => `${i.column} text`),
  ].join(', ');
  const report: TableReport = { table: t.table, resealed: 0, unreadable: [], remaining: 0 };

  for (let pass = 1; pass <= (opts.maxPasses ?? 10); pass++) {
    let after: unknown[] | null = null;
    let busy = 0;
    const unreadable: Array<Record<string, string>> = [];
    for (;;) {
      const keyset = after ? `and (${keyCols}) > (${t.key.map(() => '?').join(', ')})` : '';
      const candidates: Array<Record<string, unknown>> = await em.execute(
        `select ${keyCols} from ${t.table} where ${scope} and ${stale} ${keyset} order by ${keyCols} limit ?`,
        [...scopeParams, ...staleParams(), ...(after ?? []), batch],
      );
      if (!candidates.length) break;
      after = t.key.map(([k]) => candidates[candidates.length - 1][k]);
      const done = await em.transactional(async (tem) => {
        const match = t.key.length === 1 ? `${keyCols} = any(?::${t.key[0][1]}[])` : `(${keyCols}) in (${candidates.map(() => `(${t.key.map(() => '?').join(', ')})`).join(', ')})`;
        const matchParams = t.key.length === 1 ? [`{${candidates.map((c) => String(c[t.key[0][0]])).join(',')}}`] : candidates.flatMap((c) => t.key.map(([k]) => c[k]));
        const locked: Array<Record<string, unknown>> = await tem.execute(
          `select ${cols.join(', ')} from ${t.table} where ${match} for update skip locked`,
          matchParams,
        );
        const rows: Array<Record<string, unknown>> = [];
        for (const row of locked) {
          try {
            rows.push(resealRow(keys, t, row));
          } catch (err) {
            if (!(err instanceof UnsealError)) throw err;
            unreadable.push({ ...Object.fromEntries(t.key.map(([k]) => [k, String(row[k])])), key_id: err.keyId });
          }
        }
        if (rows.length)
          await tem.execute(
            `update ${t.table} t set ${written.map((c) => `${c} = x.${c}`).join(', ')}
             from json_to_recordset(?::json) as x(${recordType})
             where ${t.key.map(([k]) => `t.${k} = x.${k}`).join(' and ')}`,
            [JSON.stringify(rows)],
          );
        return { resealed: rows.length, busy: candidates.length - locked.length };
      });
      report.resealed += done.resealed;
      busy += done.busy;
      opts.onProgress?.({ table: t.table, pass, resealed: report.resealed, busy, unreadable: unreadable.length });
    }
    report.unreadable = unreadable;
    if (!busy) break;
    await new Promise((r) => setTimeout(r, opts.passPauseMs ?? 200));
  }
  const [{ n }] = await em.execute<Array<{ n: string }>>(`select count(*) as n from ${t.table} where ${scope} and ${stale}`, [...scopeParams, ...staleParams()]);
  report.remaining = Number(n);
  return report;
}

/** Reseals every table in turn; see the top of this file. */
export async function rekey(em: EntityManager, keys: Keyring, opts: RekeyOptions = {}): Promise<TableReport[]> {
  const reports: TableReport[] = [];
  for (const t of SEALED_TABLES) reports.push(await rekeyTable(em.fork(), keys, t, opts));
  return reports;
}
