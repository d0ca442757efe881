import { z } from 'zod';
import { pushTokenSchema } from '../../../domain/delivery/recipients.js';
import type { Operation } from '../operation.js';
import * as res from '../responses.js';

const user = { kind: 'token' } as const;
const me = 'Self-service';

const tokenParam = {
  description: 'The device token, as it was registered (URL-encoded).',
  schema: z.string().min(1).max(4096),
};

export const meOperations: Operation[] = [
  {
    method: 'get',
    path: '/api/v1/me',
    operationId: 'getMe',
    summary: 'Who the caller is',
    description: "The token's user, tenant, roles, stores and scopes, with the inbox's unread and unseen counts.",
    tag: me,
    access: user,
    responses: {
      200: {
        description: 'The caller.',
        schema: res.me,
        examples: {
          manager: {
            summary: 'A store manager',
            value: { id: 'user-123', tenant: 'default', roles: ['store_manager'], stores: ['store-1'], scopes: [], unread_count: 3, unseen_count: 1 },
          },
        },
      },
    },
  },
  {
    method: 'put',
    path: '/api/v1/me/push-tokens',
    operationId: 'putMyPushToken',
    summary: "Register one of the caller's devices for push",
    description:
      "Adds the token to the caller's own recipient record (created if there is none), leaving every other address as it is. " +
      'Registering a token again moves it to its platform; each platform keeps the newest 20. ' +
      'The push channel sends `fcm` tokens through FCM and `apns` tokens straight to Apple (APNs); a token the service calls dead is removed.',
    tag: me,
    access: user,
    body: {
      name: 'PushTokenPut',
      schema: pushTokenSchema,
      examples: { android: { summary: 'An Android phone', value: { token: 'fcm-token-8f2a', platform: 'fcm' } } },
    },
    responses: {
      200: {
        description: "Registered: the caller's device tokens now.",
        schema: res.pushTokens,
        examples: {
          android: {
            summary: 'An Android phone',
            value: { success: true, token: 'fcm-token-8f2a', platform: 'fcm', tokens: [{ token: 'fcm-token-8f2a', platform: 'fcm' }] },
          },
        },
      },
    },
  },
  {
    method: 'delete',
    path: '/api/v1/me/push-tokens/{token}',
    operationId: 'deleteMyPushToken',
    summary: "Unregister one of the caller's devices",
    description: 'A token the caller does not have is 404.',
    tag: me,
    access: user,
    pathParams: { token: tokenParam },
    responses: {
      200: { description: 'Removed.', schema: res.done, examples: { removed: { summary: 'Removed', value: { success: true, message: '推送令牌已删除' } } } },
    },
    problems: [404],
  },
];
