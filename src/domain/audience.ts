import type { Target } from '../../queues/jobs.js';
import type { Principal } from '../auth/jwt.js';

/**
 * An audience names who a stored notification reaches: 'u:<user>',
 * 'r:<role>', 's:<store>' or '*' (the whole tenant). The same keys name the
 * realtime topics, so inbox queries and socket subscriptions cannot disagree.
 */
export function audienceOf(target: Target): string {
  switch (target.kind) {
    case 'user':
      return `u:${target.id}`;
    case 'role':
      return `r:${target.id}`;
    case 'store':
      return `s:${target.id}`;
    case 'tenant':
      return '*';
  }
}

/** Every audience a user belongs to, from the token's claims. */
export function audiencesOf(principal: Pick<Principal, 'sub' | 'roles' | 'stores'>): string[] {
  return [`u:${principal.sub}`, ...principal.roles.map((r) => `r:${r}`), ...principal.stores.map((s) => `s:${s}`), '*'];
}

/** Between a topic's tenant and its audience (a character no tenant name holds). */
export const TOPIC_SEPARATOR = '\u001f';

/** The realtime topic of an audience; tenant-scoped so tenants never meet. */
export function topicOf(tenant: string, audience: string): string {
  return `${tenant}${TOPIC_SEPARATOR}${audience}`;
}
