import type { Target } from '../../../queues/jobs.js';
import type { Principal } from '../../auth/jwt.js';

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
