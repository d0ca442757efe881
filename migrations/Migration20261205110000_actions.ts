import { Migration } from '@mikro-orm/migrations';

/**
 * Notifications with a link, an image and buttons; what users did with the
 * buttons; and the platform of each push token.
 *
 * notifications.url, image_url, actions: what a client opens when the
 * notification is clicked, the picture it shows, and up to three buttons
 * (`[{ label, url, style }]`). `actions` is never null (`[]` when there are
 * none), so readers need no null case; the constant default costs an
 * existing table no rewrite.
 *
 * herald_store_notifications takes the three as extra arrays with a null
 * default: an ingest worker still running the previous release (a rolling
 * deploy, or a job retried across it) calls it with the old 22 arguments and
 * keeps working, its rows stored without link, image or buttons.
 *
 * notification_actions: one row per user and button taken (taking it again
 * changes nothing), so a count is how many people took it, not how many
 * clicks; `taken_at` is the first time. The label is kept as the user saw
 * it. The primary key leads with the notification: the sender's counts read
 * one index range, and the retention purge's cascade finds the rows.
 *
 * recipients.apns_tokens: Apple device tokens, apart from push_tokens (the
 * FCM tokens the push channel sends to), so FCM never receives an Apple
 * token (it would call it dead and drop it) and an APNs channel can read its
 * own list later.
 */
export class Migration20261205110000_actions extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table notifications
      add column url text,
      add column image_url text,
      add column actions jsonb not null default '[]';`);
    this.addSql(`create table notification_actions (
      tenant text not null,
      notification_id uuid not null references notifications (id) on delete cascade,
      user_id text not null,
      action_index smallint not null,
      label text not null,
      taken_at timestamptz not null default now(),
      primary key (notification_id, action_index, user_id)
    );`);
    this.addSql(`alter table recipients add column apns_tokens text[] not null default '{}';`);
    this.addSql('drop function if exists herald_store_notifications;');
    this.addSql(STORE_FN_V3);
  }

  override async down(): Promise<void> {
    this.addSql('drop function if exists herald_store_notifications;');
    this.addSql(STORE_FN_V2);
    this.addSql('alter table recipients drop column if exists apns_tokens;');
    this.addSql('drop table if exists notification_actions;');
    this.addSql('alter table notifications drop column if exists url, drop column if exists image_url, drop column if exists actions;');
  }
}

/**
 * The function as Migration20261202000000_tenant_heads left it, with the
 * `columns` of the INSERT and the `params`/`values` the new ones need
 * spliced in: one text for both versions, so they cannot drift apart.
 */
function storeFunction(extra: { params: string; columns: string; values: string; unnest: string; names: string }): string {
  return `
    create function herald_store_notifications(
      tenants text[], p_id uuid[], p_tenant text[], p_audience text[], p_user_id text[], p_role text[], p_store_id text[],
      p_broadcast boolean[], p_title text[], p_content text[], p_type text[], p_priority text[], p_status text[],
      p_channels text[], p_fallback_channels text[], p_metadata jsonb[], p_source text[], p_group_key text[],
      p_idempotency_key text[], p_sender text[], p_schedule_at timestamptz[], p_created_at timestamptz[]${extra.params})
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
            ${extra.columns}seq, sent_at)
          select x.id, x.tenant, x.audience, x.user_id, x.role, x.store_id, x.broadcast, x.title, x.content, x.type, x.priority,
            x.status, x.channels::text[], x.fallback_channels::text[], x.metadata, x.source, x.group_key, x.idempotency_key, x.sender,
            x.schedule_at, x.created_at, ${extra.values}
            case when x.status <> 'scheduled' then nextval('notification_seq') end,
            case when x.status = 'sent' then now() end
          from unnest(p_id, p_tenant, p_audience, p_user_id, p_role, p_store_id, p_broadcast, p_title, p_content, p_type, p_priority,
            p_status, p_channels, p_fallback_channels, p_metadata, p_source, p_group_key, p_idempotency_key, p_sender, p_schedule_at,
            p_created_at${extra.unnest})
            as x(id, tenant, audience, user_id, role, store_id, broadcast, title, content, type, priority, status, channels,
              fallback_channels, metadata, source, group_key, idempotency_key, sender, schedule_at, created_at${extra.names})
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
    $fn$;`;
}

const STORE_FN_V2 = storeFunction({ params: '', columns: '', values: '', unnest: '', names: '' });

// multi-argument unnest pads a null (left out) array with nulls: a row without them gets no link, no image, no buttons
const STORE_FN_V3 = storeFunction({
  params: ',\n      p_url text[] default null, p_image_url text[] default null, p_actions jsonb[] default null',
  columns: 'url, image_url, actions, ',
  values: `x.url, x.image_url, coalesce(x.actions, '[]'),`,
  unnest: ', p_url, p_image_url, p_actions',
  names: ', url, image_url, actions',
});
