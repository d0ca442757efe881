import { z } from 'zod';
import type { PathParam } from './operation.js';

/** The path parameters of the route table, as the routes check them. */
export const notificationIdParam: PathParam = {
  description: 'A notification id (a UUID); anything else is answered 404.',
  schema: z.uuid(),
};

export const scheduleIdParam: PathParam = {
  description: 'A schedule id (a UUID); anything else is answered 404.',
  schema: z.uuid(),
};

export const templateRefParam: PathParam = {
  description: "A template's id, or its name (e.g. order_confirmed).",
  schema: z.string().min(1),
};

export const userIdParam: PathParam = {
  description: 'The user id the recipient record belongs to (1–128 characters).',
  schema: z.string().min(1).max(128),
};
