/** The entry point esbuild bundles into /client/herald-client.js: the client's public names. */
export { HeraldClient } from './herald-client.js';
export type { HeraldClientOptions, HeraldEvents, StateEvent, RecalledEvent } from './herald-client.js';
export { HeraldError } from './herald-error.js';
export type { ConnectionEvent, ConnectionState, SocketConstructor, SocketLike } from './live-feed.js';
export type { ReconnectOptions } from './backoff.js';
export type { FetchLike } from './http.js';
export type * from './api-types.js';
export type { StorageLike } from './inbox-cache.js';
