import { Migration } from '@mikro-orm/migrations';
import { STORE_FN_V1 } from './Migration20261122070000_store_notifications_fn.js';

/**
 * notification_heads: each tenant's last inbox cursor, so every new cursor is
 * stored with the one before it (its `prev`) and realtime nodes can put
 * frames back in cursor order (src/realtime/order.ts).
 *
 * Why: cursors are taken in commit order (the tenant's advisory lock), but
 * frames are published after commit by whichever ingest process stored them,
 * so two batches committed a millisecond apart can reach Redis the other way
 * round. A client that saw the later frame and reconnected with its cursor
 * would never get the earlier one. With `prev` on every frame a node holds a
 * frame until the one before it has arrived.
 *
 * herald_store_notifications now returns `r_head`: the tenant's last cursor
 * before this call, on each row this call gave a cursor (null on rows a
 * retried batch had already stored and on scheduled rows, which have no
 * cursor yet); the caller chains its rows on from there
 * (src/domain/ingest.ts). It reads the head and moves it under the same lock
 * as the INSERT. The head comes once per tenant (a jsonb read before the
 * INSERT), not from a per-row join or window: those cost the batch 10–18%
 * here, the jsonb about 5%.
 */
export class Migration20261202000000_tenant_heads extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table notification_heads (tenant text primary key, last_seq bigint not null);`);
    this.addSql(`insert into notification_heads (tenant, last_seq)
      select tenant, max(seq) from notifications where seq is not null group by tenant;`);
    this.addSql('drop function if exists herald_store_notifications;');
    this.addSql(`
      create function herald_store_notifications(
        tenants text[], p_id uuid[], p_tenant text[], p_audience text[], p_user_id text[], p_role text[], p_store_id text[],
        p_broadcast boolean[], p_title text[], p_content text[], p_type text[], p_priority text[], p_status text[],
        p_channels text[], p_fallback_channels text[], p_metadata jsonb[], p_source text[], p_group_key text[],
        p_idempotency_key text[], p_sender text[], p_schedule_at timestamptz[], p_created_at timestamptz[])
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
              status, channels, fallback_channels, metadata, source, group_key, idempotency_key, sender, schedule_at, created_at, seq, sent_at)
            select x.id, x.tenant, x.audience, x.user_id, x.role, x.store_id, x.broadcast, x.title, x.content, x.type, x.priority,
              x.status, x.channels::text[], x.fallback_channels::text[], x.metadata, x.source, x.group_key, x.idempotency_key, x.sender,
              x.schedule_at, x.created_at,
              case when x.status <> 'scheduled' then nextval('notification_seq') end,
              case when x.status = 'sent' then now() end
            from unnest(p_id, p_tenant, p_audience, p_user_id, p_role, p_store_id, p_broadcast, p_title, p_content, p_type, p_priority,
              p_status, p_channels, p_fallback_channels, p_metadata, p_source, p_group_key, p_idempotency_key, p_sender, p_schedule_at,
              p_created_at)
              as x(id, tenant, audience, user_id, role, store_id, broadcast, title, content, type, priority, status, channels,
                fallback_channels, metadata, source, group_key, idempotency_key, sender, schedule_at, created_at)
            on conflict (id) do update set id = excluded.id
            returning n.id, n.tenant, n.seq, n.status, n.sent_at, n.xmax = 0 as fresh
          ),
          moved as (
            insert into notification_heads as h (tenant, last_seq)
            select i.tenant, max(i.seq) from ins i where i.fresh and i.seq is not null group by i.tenant
            on conflict (tenant) do update set last_seq = greatest(h.last_seq, excluded.last_seq)
          )
          select i.id, i.seq::text, i.status, i.sent_at, case when i.fresh and i.seq is not null then coalesce(heads->>i.tenant, '0') end
          from ins i;
      end
      $fn$;`);
  }

  override async down(): Promise<void> {
    this.addSql('drop function if exists herald_store_notifications;');
    this.addSql(STORE_FN_V1);
    this.addSql('drop table if exists notification_heads;');
  }
}
