import type { Problem } from './api-types.js';

/**
 * An HTTP answer outside 2xx. `status` is the HTTP status; `problem` is the
 * api's application/problem+json body (`type`, `title`, `status`, `detail`,
 * `errors` naming each bad field), or null when the answer had none (a
 * proxy's error page, a network failure: status 0).
 */
export class HeraldError extends Error {
  override readonly name = 'HeraldError';
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
    message = problem?.detail ?? problem?.title ?? `HTTP ${status}`,
  ) {
    super(message);
  }
}
