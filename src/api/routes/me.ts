import { Hono } from 'hono';
import { addPushToken, pushTokenSchema, pushTokensOf, removePushToken } from '../../domain/delivery/recipients.js';
import { replicaReads, unreadCount, unseenCount } from '../../domain/inbox/inbox.js';
import { fieldErrors } from '../../domain/sending/input.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiEnv } from '../env.js';

/** The token's own user: who the token says they are, their inbox counts, their devices. */
export function meRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const em = () => deps.orm.em.fork();

  app.get('/me', async (c) => {
    const who = c.get('principal');
    // counts for a badge: a read replica's moment of lag is fine here, as for GET /notifications/unread-count
    const reader = replicaReads(em());
    const [unread, unseen] = await Promise.all([unreadCount(reader, who), unseenCount(reader, who)]);
    return c.json({
      id: who.sub,
      tenant: who.tenant,
      roles: who.roles,
      stores: who.stores,
      scopes: [...who.scopes].sort(),
      unread_count: unread,
      unseen_count: unseen,
    });
  });

  app.put('/me/push-tokens', async (c) => {
    const who = c.get('principal');
    const parsed = pushTokenSchema.safeParse(await readJson(c));
    if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
    const row = await addPushToken(em(), who.tenant, who.sub, parsed.data);
    return c.json({ success: true, token: parsed.data.token, platform: parsed.data.platform, tokens: pushTokensOf(row) });
  });

  app.delete('/me/push-tokens/:token', async (c) => {
    const who = c.get('principal');
    const token = c.req.param('token');
    if (!(await removePushToken(em(), who.tenant, who.sub, token))) throw new NotFoundError('This user has no such push token.');
    return c.json({ success: true, message: '推送令牌已删除' });
  });

  return app;
}
