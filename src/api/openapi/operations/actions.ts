import { z } from 'zod';
import { ACTIONS_MAX } from '../../../domain/sending/input.js';
import type { Operation } from '../operation.js';
import { notificationIdParam } from '../path-params.js';
import * as res from '../responses.js';

export const actionOperations: Operation[] = [
  {
    method: 'post',
    path: '/api/v1/notifications/{id}/actions/{n}',
    operationId: 'takeAction',
    summary: 'Take one of a notification\'s buttons',
    description:
      "Records that the caller took button `n` (from 0) of a notification in their inbox, once per user and button (taking it again changes nothing), " +
      "and marks the notification read for the caller (other devices get `notification.read`). The sender sees the counts in GET /notifications/{id}/deliveries. " +
      'Another user\'s notification, and a button it does not have, are 404.',
    tag: 'Inbox',
    access: { kind: 'token' },
    pathParams: {
      id: notificationIdParam,
      n: { description: `The button's number, from 0 to ${ACTIONS_MAX - 1}; anything else is 400.`, schema: z.int().min(0).max(ACTIONS_MAX - 1) },
    },
    responses: {
      200: {
        description: 'Taken: open `url`.',
        schema: res.actionTaken,
        examples: { taken: { summary: 'Taken', value: { success: true, url: 'https://shop.example.com/orders/1003/confirm' } } },
      },
    },
    problems: [400, 404],
  },
];
