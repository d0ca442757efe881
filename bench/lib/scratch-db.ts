import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { ensureDatabase, openOrm, ormOptions, type Orm } from '../../src/db/orm.js';

/**
 * A bench's own database at `url`, dropped and made again and migrated up to
 * `to` (inclusive): its ORM, and the migrator that runs the later
 * migrations when the bench wants them (close it when done).
 */
export async function scratchDatabase(url: string, to: string): Promise<{ orm: Orm; migrator: MikroORM }> {
  const admin = new pg.Client({ connectionString: Object.assign(new URL(url), { pathname: '/postgres' }).toString() });
  await admin.connect();
  await admin.query(`drop database if exists "${new URL(url).pathname.slice(1)}" with (force)`);
  await admin.end();
  await ensureDatabase(url);
  const migrator = await MikroORM.init({ ...ormOptions({ url }), pool: { min: 0, max: 2 } });
  await migrator.getMigrator().up({ to });
  return { orm: await openOrm({ url }), migrator };
}
