import { SCOPES } from '../../../auth/jwt.js';
import { recipientSchema } from '../../../domain/delivery/recipients.js';
import { CREATED_AT } from '../examples.js';
import type { Operation } from '../operation.js';
import { userIdParam } from '../path-params.js';
import * as res from '../responses.js';

const manage = { kind: 'token', scopes: [SCOPES.send, SCOPES.admin] } as const;

const record = {
  user_id: 'user-123',
  email: 'user123@example.com',
  phone: '+8613800138000',
  wecom_user_id: 'ZhangSan',
  feishu_open_id: null,
  push_tokens: [],
  webhook_url: null,
  roles: ['store_manager'],
  stores: ['store-1'],
  timezone: 'Asia/Shanghai',
  locale: 'zh-CN',
  created_at: CREATED_AT,
  updated_at: CREATED_AT,
};

export const recipientOperations: Operation[] = [
  {
    method: 'put',
    path: '/api/v1/recipients/{user_id}',
    operationId: 'putRecipient',
    summary: "Set how to reach a user",
    description:
      'The whole record: fields left out are cleared. Channel workers read addresses from here, and role and store sends reach external channels through `roles` and `stores`.',
    tag: 'Recipients',
    access: manage,
    pathParams: { user_id: userIdParam },
    body: {
      name: 'RecipientPut',
      schema: recipientSchema,
      examples: {
        manager: {
          summary: 'A store manager',
          value: {
            email: 'user123@example.com',
            phone: '+8613800138000',
            wecom_user_id: 'ZhangSan',
            roles: ['store_manager'],
            stores: ['store-1'],
            timezone: 'Asia/Shanghai',
            locale: 'zh-CN',
          },
        },
      },
    },
    responses: { 200: { description: 'The record as stored.', schema: res.recipient, examples: { manager: { summary: 'A store manager', value: record } } } },
    problems: [403],
  },
  {
    method: 'get',
    path: '/api/v1/recipients/{user_id}',
    operationId: 'getRecipient',
    summary: "How a user is reached",
    description: 'With notify:send or admin, any user of the tenant; a user token, only its own record (another is 404).',
    tag: 'Recipients',
    access: { kind: 'token' },
    pathParams: { user_id: userIdParam },
    responses: { 200: { description: 'The record.', schema: res.recipient, examples: { manager: { summary: 'A store manager', value: record } } } },
    problems: [400, 404],
  },
  {
    method: 'delete',
    path: '/api/v1/recipients/{user_id}',
    operationId: 'deleteRecipient',
    summary: "Forget how to reach a user",
    tag: 'Recipients',
    access: manage,
    pathParams: { user_id: userIdParam },
    responses: { 200: { description: 'Deleted.', schema: res.done, examples: { deleted: { summary: 'Deleted', value: { success: true, message: '收件人已删除' } } } } },
    problems: [400, 403, 404],
  },
];
