import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122000000_inbox } from './Migration20261122000000_inbox.js';
import { Migration20261122010000_channels } from './Migration20261122010000_channels.js';
import { Migration20261122020000_templates } from './Migration20261122020000_templates.js';
import { Migration20261122020100_schedules } from './Migration20261122020100_schedules.js';
import { Migration20261122020200_preferences } from './Migration20261122020200_preferences.js';
import { Migration20261122030000_realtime_acks } from './Migration20261122030000_realtime_acks.js';
import { Migration20261122040000_group_counts } from './Migration20261122040000_group_counts.js';
import { Migration20261122050000_deliveries_in_flight } from './Migration20261122050000_deliveries_in_flight.js';
import { Migration20261122060000_drop_sender_index } from './Migration20261122060000_drop_sender_index.js';
import { Migration20261122070000_store_notifications_fn } from './Migration20261122070000_store_notifications_fn.js';
import { Migration20261122080000_drop_created_at_index } from './Migration20261122080000_drop_created_at_index.js';
import { Migration20261202000000_tenant_heads } from './Migration20261202000000_tenant_heads.js';
import { Migration20261205000000_rejections } from './Migration20261205000000_rejections.js';
import { Migration20261205100000_inbox_states } from './Migration20261205100000_inbox_states.js';
import { Migration20261205110000_actions } from './Migration20261205110000_actions.js';
import { Migration20261206000000_partitions } from './Migration20261206000000_partitions.js';
import { Migration20261206010000_parallel_ingest } from './Migration20261206010000_parallel_ingest.js';
import { Migration20261207000000_search } from './Migration20261207000000_search.js';
import { Migration20261207010000_template_variants } from './Migration20261207010000_template_variants.js';
import { Migration20261207020000_delivery_note } from './Migration20261207020000_delivery_note.js';
import { Migration20261207030000_attachments } from './Migration20261207030000_attachments.js';
import { Migration20261207040000_digest } from './Migration20261207040000_digest.js';
import { Migration20261207050000_dev_outbox } from './Migration20261207050000_dev_outbox.js';
import { Migration20261208000000_audit } from './Migration20261208000000_audit.js';
import { Migration20261208010000_encrypt_contacts } from './Migration20261208010000_encrypt_contacts.js';
import { Migration20261209000000_search_ended_months } from './Migration20261209000000_search_ended_months.js';
import { Migration20261210000000_search_grams } from './Migration20261210000000_search_grams.js';

/**
 * Every migration, in order. Listed explicitly (not globbed) so the same list
 * works under tsx and from the compiled dist/. Append new ones at the end.
 */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261122000000_inbox', class: Migration20261122000000_inbox },
  { name: 'Migration20261122010000_channels', class: Migration20261122010000_channels },
  { name: 'Migration20261122020000_templates', class: Migration20261122020000_templates },
  { name: 'Migration20261122020100_schedules', class: Migration20261122020100_schedules },
  { name: 'Migration20261122020200_preferences', class: Migration20261122020200_preferences },
  { name: 'Migration20261122030000_realtime_acks', class: Migration20261122030000_realtime_acks },
  { name: 'Migration20261122040000_group_counts', class: Migration20261122040000_group_counts },
  { name: 'Migration20261122050000_deliveries_in_flight', class: Migration20261122050000_deliveries_in_flight },
  { name: 'Migration20261122060000_drop_sender_index', class: Migration20261122060000_drop_sender_index },
  { name: 'Migration20261122070000_store_notifications_fn', class: Migration20261122070000_store_notifications_fn },
  { name: 'Migration20261122080000_drop_created_at_index', class: Migration20261122080000_drop_created_at_index },
  { name: 'Migration20261202000000_tenant_heads', class: Migration20261202000000_tenant_heads },
  { name: 'Migration20261205000000_rejections', class: Migration20261205000000_rejections },
  { name: 'Migration20261205100000_inbox_states', class: Migration20261205100000_inbox_states },
  { name: 'Migration20261205110000_actions', class: Migration20261205110000_actions },
  { name: 'Migration20261206000000_partitions', class: Migration20261206000000_partitions },
  { name: 'Migration20261206010000_parallel_ingest', class: Migration20261206010000_parallel_ingest },
  { name: 'Migration20261207000000_search', class: Migration20261207000000_search },
  { name: 'Migration20261207010000_template_variants', class: Migration20261207010000_template_variants },
  { name: 'Migration20261207020000_delivery_note', class: Migration20261207020000_delivery_note },
  { name: 'Migration20261207030000_attachments', class: Migration20261207030000_attachments },
  { name: 'Migration20261207040000_digest', class: Migration20261207040000_digest },
  { name: 'Migration20261207050000_dev_outbox', class: Migration20261207050000_dev_outbox },
  { name: 'Migration20261208000000_audit', class: Migration20261208000000_audit },
  { name: 'Migration20261208010000_encrypt_contacts', class: Migration20261208010000_encrypt_contacts },
  { name: 'Migration20261209000000_search_ended_months', class: Migration20261209000000_search_ended_months },
  { name: 'Migration20261210000000_search_grams', class: Migration20261210000000_search_grams },
];
