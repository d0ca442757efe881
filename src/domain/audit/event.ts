import type { Principal } from '../../auth/jwt.js';
import { storableText } from '../../db/text.js';

/**
 * Who made a change: the token's tenant, subject and scopes as they were
 * at the time (a token's scopes change when it is reissued; the row keeps
 * what this one carried), and the request's id, so a row leads to the
 * request's log lines.
 */
export interface AuditActor {
  tenant: string;
  sub: string;
  scopes: string[];
  requestId: string | null;
}

/**
 * What changed. `action` is `<kind>.<verb>` (template.update,
 * queue.job.retry); `target` is `<kind>:<id>` (template:order_ready,
 * job:deliver-email/42). `before` and `after` are the target's states as
 * the api presents them, null where there was none (before a create, after
 * a delete): only their digests are stored.
 */
export interface AuditChange {
  action: string;
  target: string;
  before: unknown;
  after: unknown;
}

/**
 * The actor of a request made with `who`'s token. The token's checks keep
 * NUL out of its subject and tenant but not out of its scopes: a scope
 * PostgreSQL cannot store is written with the character replaced, so an
 * odd token cannot make every change it attempts fail on its audit row.
 */
export function actorOf(who: Pick<Principal, 'tenant' | 'sub' | 'scopes'>, requestId?: string | null): AuditActor {
  return { tenant: who.tenant, sub: who.sub, scopes: [...who.scopes].map(storableText).sort(), requestId: requestId ? storableText(requestId) : null };
}
