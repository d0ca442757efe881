import { dataKeysSetting } from '../config.js';
import { parseDataKeys, type Keyring } from './keyring.js';
import { openValue, sealValue } from './sealed-value.js';

/**
 * The data keys of this process, read from HERALD_DATA_KEYS on first use.
 *
 * Why a process-wide value rather than a dependency passed down: contact
 * data is sealed and opened deep in plain data-access functions (recipients,
 * delivery records, the outbox) that every role calls with nothing but an
 * EntityManager; the keys are configuration fixed for the life of the
 * process, like the config the entry point read. A process picks up new
 * keys when it restarts (the rotation procedure restarts every role).
 */
let current: Keyring | undefined;

export function dataKeys(): Keyring {
  return (current ??= parseDataKeys(dataKeysSetting().HERALD_DATA_KEYS));
}

/** Replaces the process's keys (tests, and tools given keys other than the environment's). */
export function useDataKeys(keys: Keyring | string): void {
  current = typeof keys === 'string' ? parseDataKeys(keys) : keys;
}

/** A contact value sealed with the process's first key; null stays null. */
export function sealContact<T extends string | null | undefined>(plain: T): T extends string ? string : null {
  return (plain == null ? null : sealValue(dataKeys(), plain)) as T extends string ? string : null;
}

/** A stored contact value in clear (a plain legacy value as it is); null stays null. */
export function openContact<T extends string | null | undefined>(stored: T): T extends string ? string : null {
  return (stored == null ? null : openValue(dataKeys(), stored)) as T extends string ? string : null;
}
