import { Hono, type Context } from 'hono';
import { ACTIONS_MAX } from '../../domain/sending/input.js';
import { takeAction } from '../../domain/inbox/actions.js';
import { tellUser } from '../../domain/inbox/tell-user.js';
import { ValidationError } from '../../errors.js';
import { inboxChangeFrame } from '../../feed/frames.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { notificationIdParam } from '../notification-id.js';

/** The button number in the path: 0 to ACTIONS_MAX - 1 (whether this notification has it is the domain's 404). */
function actionIndex(c: Context): number {
  const n = c.req.param('n') ?? '';
  if (!/^[0-9]{1,2}$/.test(n) || Number(n) >= ACTIONS_MAX)
    throw new ValidationError([{ path: 'n', message: `must be an action number from 0 to ${ACTIONS_MAX - 1}` }]);
  return Number(n);
}

/** POST /notifications/:id/actions/:n: the token's own user took button n of a notification in their inbox. */
export function actionRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();

  app.post('/notifications/:id/actions/:n', async (c) => {
    const who = c.get('principal');
    const id = notificationIdParam(c);
    const em = deps.orm.em.fork();
    const { action, markedRead } = await takeAction(em, who, id, actionIndex(c));
    // the user's other devices drop it from their unread, as after PUT /notifications/:id/read
    if (markedRead) await tellUser({ ...deps, prefix: deps.config.QUEUE_PREFIX }, who, [inboxChangeFrame('notification.read', [id])], true);
    return c.json({ success: true, url: action.url });
  });

  return app;
}
