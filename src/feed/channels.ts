/**
 * Every Redis pub/sub channel Herald uses, one place: all are scoped by the
 * deployment's QUEUE_PREFIX so two Herald deployments on one Redis never
 * hear each other.
 */

/**
 * Realtime events of one topic (src/feed/topics.ts), records in the format of
 * src/feed/wire.ts. A realtime node subscribes to the topics its sockets hold
 * only, so its inbound traffic is its own users' traffic. On a Redis Cluster
 * these are sharded channels, spread over the shards by their names (a prefix
 * with a hash tag would put them all on one shard).
 */
export const topicChannel = (prefix: string, topic: string): string => `${prefix}:rt:${topic}`;

/** Every topic channel, as a PSUBSCRIBE pattern (tests and tools listening to the whole feed). */
export const topicChannelPattern = (prefix: string): string => `${prefix}:rt:*`;

/**
 * One tenant's order records (src/feed/wire.ts encodeOrder): the cursors of each
 * stored batch, so a node holding some of the tenant's topics can keep the
 * tenant's cursor order without receiving the tenant's other records.
 */
export const orderChannel = (prefix: string, tenant: string): string => `${prefix}:rt-order:${tenant}`;

/** Node-to-node control messages (e.g. close a socket another node holds); see src/realtime/connection-limit.ts. */
export const controlChannel = (prefix: string): string => `${prefix}:realtime:control`;

/** Every process hears here that a tenant's templates changed (src/domain/templates/cache.ts). */
export const templatesChannel = (prefix: string): string => `${prefix}:templates:changed`;

/** Each process says here that it has dropped its cached templates for one change. */
export const templatesAckChannel = (prefix: string): string => `${prefix}:templates:dropped`;
