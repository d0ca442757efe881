/**
 * Every Redis pub/sub channel Herald uses, one place: all are scoped by the
 * deployment's QUEUE_PREFIX so two Herald deployments on one Redis never
 * hear each other.
 */

/** Realtime events for sockets: records in the format of src/feed/wire.ts. */
export const realtimeChannel = (prefix: string): string => `${prefix}:realtime`;

/** Node-to-node control messages (e.g. close a socket another node holds); see src/realtime/connection-limit.ts. */
export const controlChannel = (prefix: string): string => `${prefix}:realtime:control`;

/** Every process hears here that a tenant's templates changed (src/domain/templates/cache.ts). */
export const templatesChannel = (prefix: string): string => `${prefix}:templates:changed`;

/** Each process says here that it has dropped its cached templates for one change. */
export const templatesAckChannel = (prefix: string): string => `${prefix}:templates:dropped`;
