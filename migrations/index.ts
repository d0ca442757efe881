import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122000000_inbox } from './Migration20261122000000_inbox.js';

/**
 * Every migration, in order. Listed explicitly (not globbed) so the same list
 * works under tsx and from the compiled dist/. Append new ones at the end.
 */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261122000000_inbox', class: Migration20261122000000_inbox },
];
