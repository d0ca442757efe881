import { SCOPES } from '../../../auth/jwt.js';
import { DIRECT_MAX_WAIT_S } from '../../../domain/delivery/direct-send.js';
import { templatePreviewSchema } from '../../../domain/templates/preview.js';
import { templateSendSchema } from '../../../domain/templates/send.js';
import { templateCreateSchema, templateUpdateSchema, type TemplateJson } from '../../../domain/templates/templates.js';
import { directWaitQuery, templateListQuery } from '../../routes/templates.js';
import { CREATED_AT, EXAMPLE_ID, EXAMPLE_TEMPLATE_ID, exampleNotification } from '../examples.js';
import type { Operation } from '../operation.js';
import { templateRefParam } from '../path-params.js';
import * as res from '../responses.js';

const write = { kind: 'token', scopes: [SCOPES.templatesWrite] } as const;

const orderShipped: TemplateJson = {
  id: EXAMPLE_TEMPLATE_ID,
  name: 'order_shipped',
  description: '订单发货后',
  title: '订单已发货',
  content: '您的订单 {order_id} 已发货，快递单号 {tracking_no}。',
  type: 'success',
  priority: 'normal',
  channels: ['app', 'sms'],
  channel_overrides: { sms: { template_code: 'SMS_1001' } },
  variants: {
    en: { title: 'Order shipped', content: 'Your order {order_id} has shipped, tracking number {tracking_no}.', sms: { text: 'Order {order_id} shipped: {tracking_no}' } },
  },
  variables: ['order_id', 'tracking_no'],
  is_active: true,
  version: 9,
  system: false,
  created_at: CREATED_AT,
  updated_at: CREATED_AT,
};

const orderShippedBody = {
  name: 'order_shipped',
  description: '订单发货后',
  title: '订单已发货',
  content: '您的订单 {order_id} 已发货，快递单号 {tracking_no}。',
  type: 'success',
  channels: ['app', 'sms'],
  channel_overrides: { sms: { template_code: 'SMS_1001' } },
  variants: {
    en: { title: 'Order shipped', content: 'Your order {order_id} has shipped, tracking number {tracking_no}.', sms: { text: 'Order {order_id} shipped: {tracking_no}' } },
  },
};

export const templateOperations: Operation[] = [
  {
    method: 'get',
    path: '/api/v1/notifications/templates',
    operationId: 'listTemplates',
    summary: 'List templates',
    description: "The tenant's templates and the eight shipped ones it has not changed, keyed by name (the legacy list shape). Any token of the tenant.",
    tag: 'Templates',
    access: { kind: 'token' },
    query: { schema: templateListQuery },
    responses: {
      200: {
        description: 'Templates by name.',
        schema: res.templateList,
        examples: { one: { summary: 'One template', value: { templates: { order_shipped: orderShipped }, count: 1 } } },
      },
    },
  },
  {
    method: 'get',
    path: '/api/v1/notifications/templates/{ref}',
    operationId: 'getTemplate',
    summary: 'Get a template',
    tag: 'Templates',
    access: { kind: 'token' },
    pathParams: { ref: templateRefParam },
    responses: { 200: { description: 'The template.', schema: res.template, examples: { template: { summary: 'A template', value: orderShipped } } } },
    problems: [404],
  },
  {
    method: 'post',
    path: '/api/v1/notifications/templates',
    operationId: 'createTemplate',
    summary: 'Create a template',
    description:
      'Texts are Liquid (`{% if %}`, `{% for %}`, filters such as `date` in the recipient\'s time zone and `currency`); `{name}` is read as `{{name}}`. ' +
      'Values are HTML-escaped in HTML bodies only. Templates read no files: `include`, `render` and `layout` are refused. ' +
      '`channel_overrides` holds per-channel bodies (email: subject, html, text; sms: text, template_code; wechat, feishu: markdown; push: title, body); ' +
      '`variants` holds the same per locale, and the recipient\'s locale picks one (zh-TW → zh → the template\'s own texts). ' +
      'A text that is not valid Liquid is 422 naming its field. A name already taken is 409 (PUT changes it).',
    tag: 'Templates',
    access: write,
    body: { name: 'TemplateCreate', schema: templateCreateSchema, examples: { create: { summary: 'A template with an SMS code', value: orderShippedBody } } },
    responses: {
      201: { description: 'Created.', schema: res.template, examples: { created: { summary: 'Created', value: { ...orderShipped, version: 1 } } } },
    },
    problems: [403, 409, 422],
  },
  ...(['put', 'patch'] as const).map(
    (method): Operation => ({
      method,
      path: '/api/v1/notifications/templates/{ref}',
      operationId: method === 'put' ? 'updateTemplate' : 'patchTemplate',
      summary: method === 'put' ? 'Change a template' : 'Change a template (PATCH)',
      description:
        'Changes the fields named and keeps the rest; each change is a new version. Changing a shipped template writes the tenant\'s own copy.',
      tag: 'Templates',
      access: write,
      pathParams: { ref: templateRefParam },
      body: { name: 'TemplateUpdate', schema: templateUpdateSchema, examples: { deactivate: { summary: 'Deactivate', value: { is_active: false } } } },
      responses: {
        200: { description: 'The template as changed.', schema: res.template, examples: { changed: { summary: 'Deactivated', value: { ...orderShipped, is_active: false, version: 10 } } } },
      },
      problems: [403, 404, 409, 422],
    }),
  ),
  {
    method: 'post',
    path: '/api/v1/templates/{ref}/preview',
    operationId: 'previewTemplate',
    summary: 'Preview a template',
    description:
      'Renders the template as a recipient with this `locale` and `timezone` would get it, per channel (each of the template\'s channels, or `channel`); nothing is sent. ' +
      'A missing variable is 422 naming it.',
    tag: 'Templates',
    access: write,
    pathParams: { ref: templateRefParam },
    body: {
      name: 'TemplatePreviewRequest',
      schema: templatePreviewSchema,
      examples: {
        en: { summary: 'In English, SMS only', value: { variables: { order_id: '1001', tracking_no: 'SF123' }, locale: 'en-GB', channel: 'sms' } },
      },
    },
    responses: {
      200: {
        description: 'What each channel would send.',
        schema: res.templatePreview,
        examples: {
          en: {
            summary: 'The en variant',
            value: {
              template: 'order_shipped',
              template_version: 9,
              locale: 'en',
              timezone: 'UTC',
              title: 'Order shipped',
              content: 'Your order 1001 has shipped, tracking number SF123.',
              channels: { sms: { title: 'Order shipped', content: 'Order 1001 shipped: SF123', template_code: 'SMS_1001' } },
            },
          },
        },
      },
    },
    problems: [403, 404, 422],
  },
  {
    method: 'delete',
    path: '/api/v1/notifications/templates/{ref}',
    operationId: 'deleteTemplate',
    summary: 'Delete a template',
    description: "Deleting a shipped template hides it from this tenant only.",
    tag: 'Templates',
    access: write,
    pathParams: { ref: templateRefParam },
    responses: {
      200: {
        description: 'Deleted.',
        schema: res.templateDeleted,
        examples: { deleted: { summary: 'Deleted', value: { success: true, message: '模板已删除', id: EXAMPLE_TEMPLATE_ID, name: 'order_shipped' } } },
      },
    },
    problems: [403, 404],
  },
  {
    method: 'post',
    path: '/api/v1/notifications/template',
    operationId: 'sendTemplate',
    summary: 'Send with a template',
    description:
      'Renders the template (`template_name` or `template_id`) with `template_vars`; every missing variable is named in one 422. ' +
      "Each user named reads it in their own locale (which picks the variant) and time zone from PUT /recipients; users who read different texts get separate notifications, all listed in `ids`. " +
      'Roles, stores, the tenant, bare addresses and users without their own read it in `locale` and `timezone` (default UTC; `timezone` also serves `schedule_local`). ' +
      'Targets and options are those of POST /notifications. The legacy `recipient` is a user id, or the email or phone of a known recipient (PUT /recipients); ' +
      'an address no recipient has, sent with no other target, goes straight to it on the template\'s external channels with no inbox row, and then `wait` applies.',
    tag: 'Templates',
    access: { kind: 'token', scopes: [SCOPES.send] },
    query: {
      schema: directWaitQuery,
      notes: { wait: `For a send to a bare address only: seconds to wait for the outcome (at most ${DIRECT_MAX_WAIT_S} are honoured); the answer is then 200.` },
    },
    body: {
      name: 'TemplateSend',
      schema: templateSendSchema,
      examples: {
        user: {
          summary: 'To a user',
          value: { template_name: 'order_confirmed', template_vars: { order_id: '1001', estimated_time: '18:30' }, user_id: 'user-123' },
        },
        address: {
          summary: 'The legacy shape: to an address',
          value: { template_name: 'order_confirmed', template_vars: { order_id: '1001', estimated_time: '18:30' }, recipient: '+8613800138000' },
        },
      },
    },
    responses: {
      202: {
        description: 'Accepted: the notification as stored-to-be, or (to a bare address) each channel queued.',
        schema: res.templateSendAccepted,
        examples: {
          user: {
            summary: 'To a user',
            value: {
              ...exampleNotification({
                title: '订单确认',
                content: '您的订单 1001 已确认，预计 18:30 送达。',
                channels: ['sms', 'push'],
                metadata: { template_name: 'order_confirmed', template_version: 1 },
                source: null,
                idempotency_key: null,
              }),
              ids: [EXAMPLE_ID],
              count: 1,
              success: true,
              message: '模板通知已发送',
              template: 'order_confirmed',
              template_version: 1,
              results: { sms: 'queued', push: 'queued' },
            },
          },
          address: {
            summary: 'To an address',
            value: { id: EXAMPLE_ID, success: true, message: '模板通知已受理', template: 'order_confirmed', template_version: 1, results: { sms: 'queued' } },
          },
        },
      },
      200: {
        description: 'To a bare address with `wait`: the outcome per channel.',
        schema: res.templateDirectOutcome,
        examples: {
          outcome: {
            summary: 'SMS delivered',
            value: { id: EXAMPLE_ID, success: true, message: '模板通知已发送', results: { sms: true }, errors: {}, template: 'order_confirmed', template_version: 1 },
          },
        },
      },
    },
    problems: [403, 422],
  },
];
