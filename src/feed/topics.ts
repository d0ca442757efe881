/** Between a topic's tenant and its audience (a character no tenant name holds). */
export const TOPIC_SEPARATOR = '\u001f';

/**
 * The realtime topic of an audience ('u:<user>', 'r:<role>', 's:<store>',
 * '*'); tenant-scoped so tenants never meet. Inbox queries use the same
 * audience keys (src/domain/inbox/audience.ts), so what a socket hears and
 * what the inbox lists cannot disagree.
 */
export function topicOf(tenant: string, audience: string): string {
  return `${tenant}${TOPIC_SEPARATOR}${audience}`;
}

/** The audience of one user's own notifications and events. */
export const userAudience = (userId: string): string => `u:${userId}`;
