import type { Context } from 'hono';
import { isUuid } from '../domain/ids.js';
import { NotFoundError } from '../errors.js';

/** The `:id` of a notification route: a path id that cannot be a notification is simply not found. */
export function notificationIdParam(c: Context): string {
  const id = c.req.param('id') ?? '';
  if (!isUuid(id)) throw new NotFoundError(`Notification ${id} was not found.`);
  return id;
}
