import type { EntityManager } from '@mikro-orm/postgresql';
import { pgArray, query } from '../../db/query.js';
import { HeraldError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { stateDigest } from './digest.js';
import type { AuditActor, AuditChange } from './event.js';

/**
 * Writes one audit row with `em` (inside its transaction when it has one)
 * and returns its id. Throws when the row cannot be written.
 */
export async function recordAudit(em: EntityManager, actor: AuditActor, change: AuditChange): Promise<string> {
  const [row] = await query<{ id: string }>(
    em,
    `insert into audit_events (tenant, actor_sub, actor_scopes, action, target, before_digest, after_digest, request_id)
     values (?, ?, ?::text[], ?, ?, ?, ?, ?) returning id::text as id`,
    [actor.tenant, actor.sub, pgArray(actor.scopes), change.action, change.target, stateDigest(change.before), stateDigest(change.after), actor.requestId],
  );
  return row.id;
}

/**
 * A change whose audit row must not be lost silently: the change and its
 * row are written in one transaction, so either both are there or neither
 * is (and the request fails with the database's error). Used for changes
 * that live in PostgreSQL alone (templates, recipients, cancelling a
 * scheduled notification). `change` reads the state before, makes the
 * change with the transaction's `tem`, and says what it did.
 */
export async function changeAudited<T>(
  em: EntityManager,
  actor: AuditActor,
  change: (tem: EntityManager) => Promise<{ result: T; audit: AuditChange }>,
): Promise<T> {
  return em.transactional(async (tem) => {
    const { result, audit } = await change(tem);
    await recordAudit(tem, actor, audit);
    return result;
  });
}

/** The change was made but its audit row could not be written, even after retries. */
export class AuditUnrecordedError extends HeraldError {
  constructor(action: string) {
    super(
      500,
      'Audit Record Failed',
      `The change (${action}) was made, but its audit record could not be written; the operators were alerted. Check the change before repeating it.`,
    );
  }
}

/** Waits before each further attempt: about 1.3 s in all, well inside a request's timeout. */
const RETRY_DELAYS_MS = [50, 250, 1000];

/**
 * For a change already made outside one PostgreSQL transaction (a recall
 * that told open sockets, a schedule whose job scheduler is in Redis, a
 * queue-board action, a rate-limit refusal): it cannot be rolled back, so
 * the row is written after it, retried on failure (a dropped connection or
 * a failover usually passes within a second). If every attempt fails the
 * event is logged at error level with everything the row would have held,
 * and AuditUnrecordedError is thrown so the request answers 500 instead of
 * pretending all went well: the loss is loud, never silent.
 */
export async function recordAfterChange(deps: { em: () => EntityManager; logger: Logger }, actor: AuditActor, change: AuditChange): Promise<string> {
  let last: unknown;
  for (let attempt = 0; attempt <= RETRY_DELAYS_MS.length; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt - 1]));
    try {
      return await recordAudit(deps.em(), actor, change);
    } catch (err) {
      last = err;
    }
  }
  deps.logger.error(
    {
      err: last,
      audit: {
        tenant: actor.tenant,
        actor_sub: actor.sub,
        actor_scopes: actor.scopes,
        action: change.action,
        target: change.target,
        before_digest: stateDigest(change.before),
        after_digest: stateDigest(change.after),
        request_id: actor.requestId,
      },
    },
    'audit record could not be written',
  );
  throw new AuditUnrecordedError(change.action);
}
