import type { components, operations } from '../../types/herald-api.js';

/**
 * The api's request and answer shapes, taken from the OpenAPI document's
 * generated types so the client cannot drift from the server (types only:
 * nothing here reaches the bundle).
 */
type Schemas = components['schemas'];

export type Notification = Schemas['Notification'];
export type InboxPage = Schemas['InboxPage'];
export type Problem = Schemas['Problem'];
export type Done = Schemas['Done'];
export type MarkedAll = Schemas['MarkedAll'];
export type ReadAll = Schemas['ReadAll'];
export type Snoozed = Schemas['Snoozed'];
export type Preferences = Schemas['Preferences'];
export type PreferencesPut = Schemas['PreferencesPut'];
export type PushTokens = Schemas['PushTokens'];
export type ActionTaken = Schemas['ActionTaken'];
export type Me = Schemas['Me'];
export type InboxStats = Schemas['InboxStats'];
export type GroupList = Schemas['GroupList'];
export type UnreadCount = Schemas['UnreadCount'];
export type BatchAction = Schemas['BatchMark']['action'];
export type BatchMarked = Schemas['BatchMarked'];
export type PushPlatform = Schemas['PushTokenPut']['platform'];

type ListParams = NonNullable<operations['listInbox']['parameters']['query']>;
/** GET /notifications's query; the true/false filters also take booleans. */
export type ListQuery = {
  [K in keyof ListParams]?: ListParams[K] extends infer V ? (V extends '0' | '1' | 'true' | 'false' ? V | boolean : V) : never;
};

type OneOrMany<T> = T | T[];
/** One count of GET /notifications/count: which notifications it counts. */
export interface CountFilter {
  read?: boolean;
  seen?: boolean;
  archived?: boolean;
  snoozed?: boolean;
  type?: OneOrMany<Notification['type']>;
  priority?: OneOrMany<Notification['priority']>;
}
