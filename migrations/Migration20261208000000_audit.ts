import { Migration } from '@mikro-orm/migrations';

/**
 * audit_events: one row per administrative change (templates, recipients,
 * cancelling and recalling notifications, schedules, queue-board actions)
 * and per rate-limit refusal of an admin token (src/domain/audit/).
 *
 * A row says who (the token's subject and scopes), what (`action`, and
 * `target` as kind:id), when, under which request id, and fingerprints of
 * the target before and after: the SHA-256 of a canonical JSON of each
 * state. The states themselves are never stored, so the log holds no
 * message text and no address, yet anyone holding a state can prove it was
 * (or was not) the one recorded.
 *
 * The id is a bigserial: it breaks ties between rows of the same instant,
 * so the listing's keyset (time desc, id desc) is a total order. `action`
 * and `target` compare in the C collation, so a prefix filter
 * (`action like 'template.%'`) can walk the btree index.
 *
 * Append-only: a trigger refuses every UPDATE, and every DELETE or TRUNCATE
 * unless the transaction has set `herald.audit_purge` to 'on' (the retention
 * purge does, with set_config(..., true), which lasts until its transaction
 * ends). This guards against the application and careless hands, not
 * against a database superuser, who can drop the trigger.
 */
export class Migration20261208000000_audit extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table if not exists audit_events (
      id bigserial primary key,
      time timestamptz not null default now(),
      tenant text not null,
      actor_sub text not null,
      actor_scopes text[] not null default '{}',
      action text collate "C" not null,
      target text collate "C" not null,
      before_digest text check (before_digest ~ '^[0-9a-f]{64}$'),
      after_digest text check (after_digest ~ '^[0-9a-f]{64}$'),
      request_id text
    );`);
    // the listing, newest first, per tenant; and the same filtered by action or by actor
    this.addSql('create index if not exists audit_events_tenant_time on audit_events (tenant, time desc, id desc);');
    this.addSql('create index if not exists audit_events_tenant_action on audit_events (tenant, action, time desc, id desc);');
    this.addSql('create index if not exists audit_events_tenant_actor on audit_events (tenant, actor_sub, time desc, id desc);');
    // the retention purge reads the oldest rows of every tenant
    this.addSql('create index if not exists audit_events_time on audit_events (time);');

    this.addSql(`create or replace function audit_events_append_only() returns trigger
      language plpgsql as $fn$
      begin
        if tg_op in ('DELETE', 'TRUNCATE') and current_setting('herald.audit_purge', true) = 'on' then
          return case when tg_op = 'DELETE' then old end;
        end if;
        raise exception 'audit_events is append-only: % refused', tg_op
          using errcode = 'insufficient_privilege',
                hint = 'Only the retention purge deletes audit events (it sets herald.audit_purge for its transaction).';
      end
      $fn$;`);
    this.addSql(`create trigger audit_events_append_only before update or delete on audit_events
      for each row execute function audit_events_append_only();`);
    this.addSql(`create trigger audit_events_no_truncate before truncate on audit_events
      for each statement execute function audit_events_append_only();`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists audit_events;');
    this.addSql('drop function if exists audit_events_append_only();');
  }
}
