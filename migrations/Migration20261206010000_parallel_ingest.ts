import { Migration } from '@mikro-orm/migrations';
import { FRESH_BY_HEAD, storeFunction } from './Migration20261206000000_partitions.js';

/**
 * Batches of one tenant commit in parallel.
 *
 * Until now each batch took its cursors under a per-tenant advisory lock
 * held to its commit, so one tenant's batches were stored one after
 * another whatever the number of ingest workers. Now a batch first
 * reserves its cursors in a short transaction of its own
 * (herald_reserve_cursors): the tenant's head row moves past them (its row
 * lock orders reservations) and the reservation is recorded as open in
 * notification_open. The INSERT (herald_store_notifications) closes the
 * reservation in the transaction that stores the rows, so readers, which
 * cap what they hand out below the oldest open reservation
 * (src/domain/inbox/horizon.ts), never give a cursor above a row that
 * could still commit.
 *
 * A reservation whose batch never commits (its worker died) is deleted
 * after 30 s by the next reservation of the tenant or by an ingest worker's
 * sweep; the INSERT refuses to commit once its reservation is gone (SQLSTATE
 * HR001), and the batch reserves again. Cursors are per tenant from now on,
 * continuing from each tenant's head: they are only ever compared within a
 * tenant.
 */
export class Migration20261206010000_parallel_ingest extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table notification_open (
      id bigserial primary key,
      tenant text not null,
      lo bigint not null,
      opened_at timestamptz not null default now()
    );`);
    this.addSql('create index notification_open_tenant on notification_open (tenant, lo);');
    this.addSql(RESERVE_FN);
    this.addSql('drop function if exists herald_store_notifications;');
    this.addSql(STORE_FN);
  }

  override async down(): Promise<void> {
    this.addSql('drop function if exists herald_store_notifications;');
    this.addSql('drop function if exists herald_reserve_cursors;');
    this.addSql('drop table if exists notification_open;');
    this.addSql(storeFunction(FRESH_BY_HEAD));
  }
}

/** How long a reservation may stay open before it is taken back (its batch must then reserve again). */
export const RESERVATION_TTL = '30 seconds';

const RESERVE_FN = `
  create function herald_reserve_cursors(p_tenants text[], p_counts int[])
  returns table (r_tenant text, r_id bigint, r_lo bigint, r_hi bigint)
  language plpgsql as $fn$
  declare
    i int;
    v_hi bigint;
  begin
    -- a reservation lost in a crash reserved cursors no row holds: nothing to make durable before the INSERT's own commit
    perform set_config('synchronous_commit', 'off', true);
    delete from notification_open where tenant = any(p_tenants) and opened_at < now() - interval '${RESERVATION_TTL}';
    for i in 1 .. coalesce(array_length(p_tenants, 1), 0) loop
      insert into notification_heads as h (tenant, last_seq) values (p_tenants[i], p_counts[i])
        on conflict (tenant) do update set last_seq = h.last_seq + p_counts[i]
        returning h.last_seq into v_hi;
      r_tenant := p_tenants[i];
      r_lo := v_hi - p_counts[i] + 1;
      r_hi := v_hi;
      insert into notification_open (tenant, lo) values (r_tenant, r_lo) returning id into r_id;
      return next;
    end loop;
  end
  $fn$;`;

const STORE_FN = `
  create function herald_store_notifications(
    p_id uuid[], p_tenant text[], p_audience text[], p_user_id text[], p_role text[], p_store_id text[],
    p_broadcast boolean[], p_title text[], p_content text[], p_type text[], p_priority text[], p_status text[],
    p_channels text[], p_fallback_channels text[], p_metadata jsonb[], p_source text[], p_group_key text[],
    p_idempotency_key text[], p_sender text[], p_schedule_at timestamptz[], p_created_at timestamptz[],
    p_url text[], p_image_url text[], p_actions jsonb[], p_seq bigint[], p_open bigint[], p_lo jsonb)
  returns table (r_id uuid, r_seq text, r_status text, r_sent_at timestamptz, r_head text)
  language plpgsql as $fn$
  declare
    closed int;
  begin
    -- closing the reservation commits with the rows: readers see both or neither
    if cardinality(p_open) > 0 then
      delete from notification_open where id = any(p_open);
      get diagnostics closed = row_count;
      if closed <> cardinality(p_open) then
        raise exception 'cursor reservation expired' using errcode = 'HR001';
      end if;
    end if;
    return query
      with ins as (
        insert into notifications as n (id, tenant, audience, user_id, role, store_id, broadcast, title, content, type, priority,
          status, channels, fallback_channels, metadata, source, group_key, idempotency_key, sender, schedule_at, created_at,
          url, image_url, actions, seq, sent_at)
        select x.id, x.tenant, x.audience, x.user_id, x.role, x.store_id, x.broadcast, x.title, x.content, x.type, x.priority,
          x.status, x.channels::text[], x.fallback_channels::text[], x.metadata, x.source, x.group_key, x.idempotency_key, x.sender,
          x.schedule_at, x.created_at, x.url, x.image_url, coalesce(x.actions, '[]'), x.seq,
          case when x.status = 'sent' then now() end
        from unnest(p_id, p_tenant, p_audience, p_user_id, p_role, p_store_id, p_broadcast, p_title, p_content, p_type, p_priority,
          p_status, p_channels, p_fallback_channels, p_metadata, p_source, p_group_key, p_idempotency_key, p_sender, p_schedule_at,
          p_created_at, p_url, p_image_url, p_actions, p_seq)
          as x(id, tenant, audience, user_id, role, store_id, broadcast, title, content, type, priority, status, channels,
            fallback_channels, metadata, source, group_key, idempotency_key, sender, schedule_at, created_at, url, image_url, actions, seq)
        on conflict (id) do update set id = excluded.id
        -- a row this call stored holds a cursor of its reservation; one a retried batch stored before holds an older one
        returning n.id, n.tenant, n.seq, n.status, n.sent_at,
          (n.seq is not null and n.seq >= coalesce((p_lo->>n.tenant)::bigint, 9223372036854775807)) as fresh
      )
      select i.id, i.seq::text, i.status, i.sent_at, case when i.fresh then ((p_lo->>i.tenant)::bigint - 1)::text end
      from ins i;
  end
  $fn$;`;
