import { Migration } from '@mikro-orm/migrations';

/**
 * Notifications and two of their per-user tables (receipts, actions) become
 * tables partitioned by month, so retention drops a month's partitions
 * instead of deleting its rows one by one (src/db/partitions.ts).
 *
 * The key is the notification id. Ids are UUIDv7: their first 48 bits are
 * the millisecond they were minted, so the ids of a UTC month are one range,
 * from the smallest UUIDv7 of its first millisecond to that of the next
 * month's. Partitioning by id keeps `primary key (id)` legal (a unique key
 * must hold the partition key) and with it `on conflict (id)` in
 * herald_store_notifications and the foreign keys from the other tables.
 * Those are partitioned by notification_id on the same bounds, so a month
 * of receipts and actions goes with its notifications.
 *
 * notification_acks stays one table: its writer tells a new ack from a
 * repeated one by `xmax = 0` in RETURNING, which PostgreSQL refuses on a
 * partitioned table. Retention deletes a month's acks by id range before
 * dropping the month (its foreign key would refuse the detach otherwise),
 * through a new index on notification_id; without it that delete, the
 * detach's own check and the row purge's cascade each read the whole table.
 *
 * There is no DEFAULT partition. Every id is minted when the api accepts a
 * notification, so the month a row needs is always known; the scheduler
 * creates months ahead, and the store path creates a missing one itself when
 * an insert finds none (src/domain/sending/store.ts). A default partition
 * would instead have to be scanned, under lock, each time a month is
 * created beside it, and its rows could never be dropped by month.
 *
 * Existing rows are copied: the old tables are locked (reads and writes wait
 * for the copy, 4–12 s per million notifications here), renamed, copied into
 * the new ones and dropped. Their indexes, constraints, triggers and grants,
 * including any a later migration added, and foreign keys from other tables
 * that point at notifications, are read from the catalog before and
 * recreated after, under their own names. A view on them would make the drop
 * fail (and the migration roll back) rather than vanish.
 *
 * herald_store_notifications told a new row from one a retried batch had
 * stored by `xmax = 0` too. It now compares the row's cursor with the
 * tenant's head read under the lock before the INSERT: a cursor this call
 * assigned is above it, a stored row's is not (the head moved past it in the
 * statement that stored it, or when it fired).
 */
export class Migration20261206000000_partitions extends Migration {
  override async up(): Promise<void> {
    this.addSql(UUIDV7_FLOOR_FN);
    this.addSql(ENSURE_FN);
    this.addSql(`lock table notifications, notification_receipts, notification_actions, notification_acks in access exclusive mode;`);
    // a non-UUIDv7 id has no month: refuse rather than make a partition per random "month"
    this.addSql(`do $$ begin
      if exists (select 1 from notifications where substr(id::text, 15, 1) <> '7') then
        raise exception 'notifications holds ids that are not UUIDv7; they cannot be partitioned by month';
      end if;
    end $$;`);
    this.addSql(`create temporary table herald_partition_ddl on commit drop as
      select 1 as step, format('alter table %s drop constraint %I', c.conrelid::regclass, c.conname) as sql, c.conname::text as name
        from pg_constraint c
        where c.contype = 'f' and c.confrelid = 'notifications'::regclass and c.conrelid not in (${TABLES_REGCLASS})
      union all
      select 2, format('alter table %s add constraint %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)), c.conname
        from pg_constraint c
        where c.contype in ('p', 'u', 'x') and c.conrelid in (${TABLES_REGCLASS})
      union all
      select 3, pg_get_indexdef(i.indexrelid), i.indexrelid::regclass::text
        from pg_index i
        where i.indrelid in (${TABLES_REGCLASS})
          and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid and c.conrelid = i.indrelid)
      union all
      select 4, format('alter table %s add constraint %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)), c.conname
        from pg_constraint c
        where c.contype = 'f' and (c.confrelid = 'notifications'::regclass or c.conrelid in (${TABLES_REGCLASS}))
      union all
      select 5, pg_get_triggerdef(t.oid), t.tgname::text
        from pg_trigger t where t.tgrelid in (${TABLES_REGCLASS}) and not t.tgisinternal
      union all
      select 6, format('grant %s on %s to %s', a.privilege_type, c.oid::regclass,
          case when a.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(a.grantee)) end), c.relname::text
        from pg_class c, aclexplode(c.relacl) a
        where c.oid in (${TABLES_REGCLASS}) and a.grantee <> c.relowner;`);
    this.addSql(`do $$ declare s text; begin
      for s in select sql from herald_partition_ddl where step = 1 loop execute s; end loop;
    end $$;`);
    for (const [table, key] of TABLES) {
      this.addSql(`alter table ${table} rename to ${table}_unpartitioned;`);
      this.addSql(`create table ${table} (like ${table}_unpartitioned including defaults including constraints including storage including comments)
        partition by range (${key});`);
    }
    // every month from the oldest row's to three ahead of now (the scheduler keeps that lead from here on)
    this.addSql(`select herald_ensure_partitions(
      least(now(), ${mintedAt('asc')}),
      greatest(now() + interval '3 months', ${mintedAt('desc')}));`);
    for (const [table] of TABLES) this.addSql(`insert into ${table} select * from ${table}_unpartitioned;`);
    this.addSql(`drop table ${TABLES.map(([t]) => `${t}_unpartitioned`).reverse().join(', ')};`);
    // keys, then indexes, then foreign keys (which need the keys they point at), triggers and grants
    this.addSql(`do $$ declare s text; begin
      for s in select sql from herald_partition_ddl where step > 1 order by step, name loop execute s; end loop;
    end $$;`);
    // a month's acks are deleted by id range before the month is dropped, and the detach checks that none is left
    this.addSql('create index notification_acks_notification on notification_acks (notification_id);');
    this.addSql('drop function if exists herald_store_notifications;');
    this.addSql(storeFunction(FRESH_BY_HEAD));
    for (const [table] of TABLES) this.addSql(`analyze ${table};`);
  }

  override async down(): Promise<void> {
    // back to one table each, rows and all (the same copy the other way)
    this.addSql(`lock table notifications, notification_receipts, notification_actions, notification_acks in access exclusive mode;`);
    this.addSql(`create temporary table herald_partition_ddl on commit drop as
      select 1 as step, format('alter table %s add constraint %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) as sql,
          c.conname::text as name
        from pg_constraint c where c.contype in ('p', 'u', 'x') and c.conrelid in (${TABLES_REGCLASS}) and c.conparentid = 0
      union all
      select 2, pg_get_indexdef(i.indexrelid), i.indexrelid::regclass::text
        from pg_index i
        where i.indrelid in (${TABLES_REGCLASS})
          and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid and c.conrelid = i.indrelid)
      union all
      select 3, format('alter table %s add constraint %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)), c.conname
        from pg_constraint c
        where c.contype = 'f' and c.conparentid = 0 and (c.confrelid = 'notifications'::regclass or c.conrelid in (${TABLES_REGCLASS}));`);
    this.addSql(`do $$ declare r record; begin
      for r in select conrelid::regclass as t, conname from pg_constraint
        where contype = 'f' and conparentid = 0 and confrelid = 'notifications'::regclass and conrelid not in (${TABLES_REGCLASS}) loop
        execute format('alter table %s drop constraint %I', r.t, r.conname);
      end loop;
    end $$;`);
    for (const [table] of TABLES) {
      this.addSql(`alter table ${table} rename to ${table}_partitioned;`);
      this.addSql(`create table ${table} (like ${table}_partitioned including defaults including constraints including storage including comments);`);
      this.addSql(`insert into ${table} select * from ${table}_partitioned;`);
    }
    this.addSql(`drop table ${TABLES.map(([t]) => `${t}_partitioned`).reverse().join(', ')};`);
    this.addSql(`do $$ declare s text; begin
      for s in select sql from herald_partition_ddl order by step, name loop execute s; end loop;
    end $$;`);
    this.addSql('drop index if exists notification_acks_notification;');
    this.addSql('drop function if exists herald_store_notifications;');
    this.addSql(storeFunction(FRESH_BY_XMAX));
    this.addSql('drop function if exists herald_ensure_partitions;');
    this.addSql('drop function if exists herald_uuidv7_floor;');
  }
}

/** When the oldest ('asc') or newest ('desc') existing notification was minted: its id's first 48 bits, in ms. */
const mintedAt = (end: 'asc' | 'desc') =>
  `(select to_timestamp(('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint / 1000.0)
    from notifications_unpartitioned order by id ${end} limit 1)`;

/** The partitioned tables and their keys, parent first (the others reference it). */
const TABLES: Array<[string, string]> = [
  ['notifications', 'id'],
  ['notification_receipts', 'notification_id'],
  ['notification_actions', 'notification_id'],
];

const TABLES_REGCLASS = TABLES.map(([t]) => `'${t}'::regclass`).join(', ');

/** The smallest UUIDv7 of a millisecond, as src/domain/ids.ts uuidv7Floor makes it. */
const UUIDV7_FLOOR_FN = `
  create function herald_uuidv7_floor(at timestamptz) returns uuid
  language sql immutable strict as $fn$
    select (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-0000-0000-000000000000')::uuid
    from (select lpad(to_hex(greatest(0, floor(extract(epoch from at) * 1000))::bigint), 12, '0') as h) x
  $fn$;`;

/**
 * herald_ensure_partitions(from, to): the partitions of every UTC month from
 * `from`'s to `to`'s, for notifications and the tables partitioned with it,
 * created where missing; returns the names it created. Called by the
 * scheduler (months ahead) and by the store path when an insert finds no
 * month for a row. Two callers creating the same month at once: one creates
 * it, the other finds it made.
 *
 * Month arithmetic is on UTC wall time (timestamp without time zone), so a
 * session time zone with daylight saving cannot shift a bound.
 */
const ENSURE_FN = `
  create function herald_ensure_partitions(p_from timestamptz, p_to timestamptz) returns setof text
  language plpgsql as $fn$
  declare
    m timestamp;
    parent text;
    part text;
    lo uuid;
    hi uuid;
  begin
    for m in select generate_series(date_trunc('month', p_from at time zone 'UTC'), date_trunc('month', p_to at time zone 'UTC'), interval '1 month') loop
      lo := herald_uuidv7_floor(m at time zone 'UTC');
      hi := herald_uuidv7_floor((m + interval '1 month') at time zone 'UTC');
      foreach parent in array array['notifications', 'notification_receipts', 'notification_actions'] loop
        part := parent || '_p' || to_char(m, 'YYYY_MM');
        continue when to_regclass(part) is not null;
        begin
          execute format('create table %I partition of %I for values from (%L) to (%L)', part, parent, lo, hi);
          return next part;
        exception when others then
          -- made by a concurrent caller (which error that gives depends on where the two met); anything else is raised
          if to_regclass(part) is null then
            raise;
          end if;
        end;
      end loop;
    end loop;
  end
  $fn$;`;

/** How the function tells a row this call inserted: the previous version's test, and this one's. */
const FRESH_BY_XMAX = 'n.xmax = 0';
export const FRESH_BY_HEAD = "n.seq > coalesce((heads->>n.tenant)::bigint, 0)";

/** herald_store_notifications as Migration20261205110000_actions left it, but for how `fresh` is decided. */
export function storeFunction(fresh: string): string {
  return `
    create function herald_store_notifications(
      tenants text[], p_id uuid[], p_tenant text[], p_audience text[], p_user_id text[], p_role text[], p_store_id text[],
      p_broadcast boolean[], p_title text[], p_content text[], p_type text[], p_priority text[], p_status text[],
      p_channels text[], p_fallback_channels text[], p_metadata jsonb[], p_source text[], p_group_key text[],
      p_idempotency_key text[], p_sender text[], p_schedule_at timestamptz[], p_created_at timestamptz[],
      p_url text[] default null, p_image_url text[] default null, p_actions jsonb[] default null)
    returns table (r_id uuid, r_seq text, r_status text, r_sent_at timestamptz, r_head text)
    language plpgsql as $fn$
    declare
      t text;
      heads jsonb;
    begin
      foreach t in array tenants loop
        perform pg_advisory_xact_lock(hashtext('herald.seq.' || t));
      end loop;
      -- statements after the lock take new snapshots: they see the head the previous holder committed
      select coalesce(jsonb_object_agg(h.tenant, h.last_seq::text), '{}') into heads
        from notification_heads h where h.tenant = any(tenants);
      return query
        with ins as (
          insert into notifications as n (id, tenant, audience, user_id, role, store_id, broadcast, title, content, type, priority,
            status, channels, fallback_channels, metadata, source, group_key, idempotency_key, sender, schedule_at, created_at,
            url, image_url, actions, seq, sent_at)
          select x.id, x.tenant, x.audience, x.user_id, x.role, x.store_id, x.broadcast, x.title, x.content, x.type, x.priority,
            x.status, x.channels::text[], x.fallback_channels::text[], x.metadata, x.source, x.group_key, x.idempotency_key, x.sender,
            x.schedule_at, x.created_at, x.url, x.image_url, coalesce(x.actions, '[]'),
            case when x.status <> 'scheduled' then nextval('notification_seq') end,
            case when x.status = 'sent' then now() end
          from unnest(p_id, p_tenant, p_audience, p_user_id, p_role, p_store_id, p_broadcast, p_title, p_content, p_type, p_priority,
            p_status, p_channels, p_fallback_channels, p_metadata, p_source, p_group_key, p_idempotency_key, p_sender, p_schedule_at,
            p_created_at, p_url, p_image_url, p_actions)
            as x(id, tenant, audience, user_id, role, store_id, broadcast, title, content, type, priority, status, channels,
              fallback_channels, metadata, source, group_key, idempotency_key, sender, schedule_at, created_at, url, image_url, actions)
          on conflict (id) do update set id = excluded.id
          returning n.id, n.tenant, n.seq, n.status, n.sent_at, ${fresh} as fresh
        ),
        moved as (
          insert into notification_heads as h (tenant, last_seq)
          select i.tenant, max(i.seq) from ins i where i.fresh and i.seq is not null group by i.tenant
          on conflict (tenant) do update set last_seq = greatest(h.last_seq, excluded.last_seq)
        )
        select i.id, i.seq::text, i.status, i.sent_at, case when i.fresh and i.seq is not null then coalesce(heads->>i.tenant, '0') end
        from ins i;
    end
    $fn$;`;
}
