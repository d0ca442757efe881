import { ConflictError, ForbiddenError, HeraldError, NotFoundError, UnauthorizedError, UnprocessableError, ValidationError } from '../../errors.js';
import { TooManyRequestsError } from '../middleware/rate-limit.js';
import type { Example } from './operation.js';

/**
 * The errors every operation may answer, described once and referenced by
 * status (components.responses). Each example is what Herald answers in
 * that case (src/errors.ts, src/api/middleware/*).
 */
export interface SharedProblem {
  name: string;
  description: string;
  example: Example;
  headers?: Record<string, string>;
}

/** The problem+json body the api's onError writes for `err`. */
function problemOf(err: HeraldError) {
  return { type: err.type, title: err.title, status: err.status, detail: err.message, ...(err.errors ? { errors: err.errors } : {}) };
}

export const PROBLEMS = {
  400: {
    name: 'BadRequest',
    description: 'A field, query parameter or the body is invalid: one entry per bad field in `errors`.',
    example: {
      summary: 'A send without a target',
      value: problemOf(
        new ValidationError([{ path: 'user_id', message: 'a target is required: user_id, user_ids, role, store_id or broadcast: true' }]),
      ),
    },
  },
  401: {
    name: 'Unauthorized',
    description: 'No bearer token, or one that is invalid or expired.',
    example: { summary: 'No Authorization header', value: problemOf(new UnauthorizedError()) },
  },
  403: {
    name: 'Forbidden',
    description: 'The token lacks the scope this operation needs.',
    example: { summary: 'A user token sending', value: problemOf(new ForbiddenError("This call needs the 'notify:send' scope.")) },
  },
  404: {
    name: 'NotFound',
    description: "Not there, or not the caller's to see (another user's notification is 404, never 403).",
    example: {
      summary: 'An unknown notification',
      value: problemOf(new NotFoundError('Notification 0192f3a4-5b6c-7d8e-9f01-23456789abcd was not found.')),
    },
  },
  409: {
    name: 'Conflict',
    description: 'The change conflicts with the current state (a name taken, a notification already sent).',
    example: {
      summary: 'A template name already taken',
      value: problemOf(new ConflictError('A template named order_shipped already exists; PUT changes it.')),
    },
  },
  413: {
    name: 'ContentTooLarge',
    description: 'The body is over 1 MiB.',
    example: {
      summary: 'A 2 MiB body',
      value: problemOf(new HeraldError(413, 'Content Too Large', 'Request bodies are limited to 1048576 bytes.')),
    },
  },
  422: {
    name: 'UnprocessableContent',
    description: 'Well-formed, but it cannot be done as asked (a template variable missing, an address nobody has).',
    example: {
      summary: 'A template variable missing',
      value: problemOf(
        new UnprocessableError('Template order_confirmed needs variables that were not given: estimated_time.', [
          { path: 'template_vars.estimated_time', message: 'is required by template order_confirmed (content)' },
        ]),
      ),
    },
  },
  429: {
    name: 'TooManyRequests',
    description: "Over the token subject's rate limit; retry after Retry-After seconds.",
    example: { summary: 'A user token over 100 requests a minute', value: problemOf(new TooManyRequestsError(100)) },
    headers: {
      'Retry-After': 'seconds until a request will be taken',
      'RateLimit-Limit': 'requests per minute for this token subject',
      'RateLimit-Remaining': 'requests left in the window',
      'RateLimit-Reset': 'seconds until the window is full again',
    },
  },
  503: {
    name: 'ServiceUnavailable',
    description: 'PostgreSQL or Redis is unavailable, or the request took too long; retry after Retry-After seconds.',
    example: {
      summary: 'Redis down during a send',
      value: problemOf(new HeraldError(503, 'Service Unavailable', 'The queue (Redis) is unavailable; nothing was accepted. Retry later.')),
    },
    headers: { 'Retry-After': 'seconds to wait before retrying' },
  },
} as const satisfies Record<number, SharedProblem>;

export type ProblemStatus = keyof typeof PROBLEMS;
