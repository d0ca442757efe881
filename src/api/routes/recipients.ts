import { Hono, type Context } from 'hono';
import { SCOPES, type Principal } from '../../auth/jwt.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../../errors.js';
import { fieldErrors } from '../../domain/sending/input.js';
import { deleteRecipient, getRecipient, presentRecipient, putRecipient, recipientSchema } from '../../domain/delivery/recipients.js';
import { actorOf } from '../../domain/audit/event.js';
import { changeAudited } from '../../domain/audit/record.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiEnv } from '../env.js';

/** Services (notify:send) and admins manage addresses; a user may read its own record. */
const manages = (p: Principal) => p.scopes.has(SCOPES.send) || p.scopes.has(SCOPES.admin);

function userIdParam(c: Context<ApiEnv>): string {
  // Hono has decoded the segment once already; decoding again would turn %2541 into A, and % into a URIError
  const id = (c.req.param('user_id') ?? '').trim();
  if (!id || id.length > 128) throw new ValidationError([{ path: 'user_id', message: 'must be 1 to 128 characters' }]);
  return id;
}

/** PUT/GET/DELETE /recipients/:user_id: how to reach a user on each external channel. */
export function recipientRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const em = () => deps.orm.em.fork();

  app.put('/recipients/:user_id', async (c) => {
    const who = c.get('principal');
    if (!manages(who)) throw new ForbiddenError(`Setting a recipient's addresses needs the '${SCOPES.send}' or '${SCOPES.admin}' scope.`);
    const userId = userIdParam(c);
    const parsed = recipientSchema.safeParse(await readJson(c));
    if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
    // the change and its audit row commit together; the row keeps digests of the record, never its addresses
    const row = await changeAudited(em(), actorOf(who, c.get('requestId')), async (tem) => {
      const before = await getRecipient(tem, who.tenant, userId);
      const row = await putRecipient(tem, who.tenant, userId, parsed.data);
      const after = presentRecipient(row);
      return { result: after, audit: { action: 'recipient.upsert', target: `recipient:${userId}`, before: before && presentRecipient(before), after } };
    });
    return c.json(row);
  });

  app.get('/recipients/:user_id', async (c) => {
    const who = c.get('principal');
    const userId = userIdParam(c);
    // another user's record is simply not there for a plain user token
    if (!manages(who) && who.sub !== userId) throw new NotFoundError(`Recipient ${userId} was not found.`);
    const row = await getRecipient(em(), who.tenant, userId);
    if (!row) throw new NotFoundError(`Recipient ${userId} was not found.`);
    return c.json(presentRecipient(row));
  });

  app.delete('/recipients/:user_id', async (c) => {
    const who = c.get('principal');
    if (!manages(who)) throw new ForbiddenError(`Removing a recipient needs the '${SCOPES.send}' or '${SCOPES.admin}' scope.`);
    const userId = userIdParam(c);
    await changeAudited(em(), actorOf(who, c.get('requestId')), async (tem) => {
      const before = await getRecipient(tem, who.tenant, userId);
      if (!before || !(await deleteRecipient(tem, who.tenant, userId))) throw new NotFoundError(`Recipient ${userId} was not found.`);
      return { result: null, audit: { action: 'recipient.delete', target: `recipient:${userId}`, before: presentRecipient(before), after: null } };
    });
    return c.json({ success: true, message: '收件人已删除' });
  });

  return app;
}
