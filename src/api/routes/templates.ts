import { Hono, type Context } from 'hono';
import { SCOPES } from '../../auth/jwt.js';
import { z } from 'zod';
import { NotFoundError, UnprocessableError, ValidationError } from '../../errors.js';
import { acceptNotifications } from '../../domain/sending/accept.js';
import { fieldErrors } from '../../domain/sending/input.js';
import { recipientZones } from '../../domain/sending/schedule-local.js';
import * as templates from '../../domain/templates/templates.js';
import { TemplateCache } from '../../domain/templates/cache.js';
import { DIRECT_MAX_WAIT_S, sendDirect, waitForOutcome } from '../../domain/delivery/direct-send.js';
import { getRecipients } from '../../domain/delivery/recipients.js';
import { previewTemplate, templatePreviewSchema } from '../../domain/templates/preview.js';
import {
  groupInputs,
  hasTargets,
  parseTemplateSend,
  renderForRecipients,
  renderTemplate,
  requestContext,
  resolveRecipient,
  toDirectSend,
  toNotificationInput,
  type RenderedTemplate,
  type TemplateSend,
} from '../../domain/templates/send.js';
import type { TemplateRow } from '../../domain/templates/templates.js';
import { actorOf } from '../../domain/audit/event.js';
import { changeAudited } from '../../domain/audit/record.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { requireScope } from '../middleware/auth.js';

export const directWaitQuery = z.object({ wait: z.coerce.number().min(0).max(3600).optional() });
/** Any value other than true or 1 leaves inactive templates out. */
export const templateListQuery = z.object({ include_inactive: z.string().describe('true or 1 lists inactive templates too').optional() });

/**
 * Templates (the 智链OS API's list shape, the VoiceHelper API's CRUD paths) and sending with one.
 * Reads are open to every token of the tenant; writes need templates:write;
 * sending needs notify:send.
 */
export function templateRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const em = () => deps.orm.em.fork();
  const cache = new TemplateCache({ redis: deps.redis, prefix: deps.config.QUEUE_PREFIX, logger: deps.logger });
  // the cache's subscriber lives as long as the api's own Redis connection
  deps.redis.once('end', () => cache.close());
  const accept = { redis: deps.redis, queues: deps.queues, prefix: deps.config.QUEUE_PREFIX, zones: recipientZones(deps.orm) };
  const write = requireScope(SCOPES.templatesWrite);

  const idOrName = (c: Context) => c.req.param('ref') ?? '';
  // a template change and its audit row commit together (src/domain/audit/record.ts)
  const audit = (c: Context<ApiEnv>) => actorOf(c.get('principal'), c.get('requestId'));

  app.get('/notifications/templates', async (c) => {
    const includeInactive = ['true', '1'].includes(templateListQuery.parse(c.req.query()).include_inactive ?? '');
    const rows = await templates.listTemplates(em(), c.get('principal').tenant, { includeInactive });
    return c.json({ templates: Object.fromEntries(rows.map((t) => [t.name, templates.presentTemplate(t)])), count: rows.length });
  });

  app.get('/notifications/templates/:ref', async (c) => {
    const t = await templates.findTemplate(em(), c.get('principal').tenant, idOrName(c));
    if (!t) throw new NotFoundError(`Template ${idOrName(c)} was not found.`);
    return c.json(templates.presentTemplate(t));
  });

  app.post('/notifications/templates', write, async (c) => {
    const body = templates.templateCreateSchema.safeParse(await readJson(c));
    if (!body.success) throw new ValidationError(fieldErrors(body.error));
    const tenant = c.get('principal').tenant;
    const t = await changeAudited(em(), audit(c), async (tem) => {
      const t = await templates.createTemplate(tem, tenant, body.data);
      return { result: t, audit: { action: 'template.create', target: `template:${t.name}`, before: null, after: templates.presentTemplate(t) } };
    });
    await cache.changed(tenant);
    return c.json(templates.presentTemplate(t), 201);
  });

  const update = async (c: Context<ApiEnv>) => {
    const body = templates.templateUpdateSchema.safeParse(await readJson(c));
    if (!body.success) throw new ValidationError(fieldErrors(body.error));
    const tenant = c.get('principal').tenant;
    const t = await changeAudited(em(), audit(c), async (tem) => {
      const before = await templates.findTemplate(tem, tenant, idOrName(c));
      const t = await templates.updateTemplate(tem, tenant, idOrName(c), body.data);
      const target = `template:${before?.name ?? t.name}`;
      return { result: t, audit: { action: 'template.update', target, before: before && templates.presentTemplate(before), after: templates.presentTemplate(t) } };
    });
    await cache.changed(tenant);
    return c.json(templates.presentTemplate(t));
  };
  app.put('/notifications/templates/:ref', write, update);
  app.patch('/notifications/templates/:ref', write, update);

  // what a recipient of this locale and time zone would get on each channel; nothing is sent
  app.post('/templates/:ref/preview', write, async (c) => {
    const body = templatePreviewSchema.safeParse(await readJson(c));
    if (!body.success) throw new ValidationError(fieldErrors(body.error));
    const t = await templates.findTemplate(em(), c.get('principal').tenant, idOrName(c));
    if (!t) throw new NotFoundError(`Template ${idOrName(c)} was not found.`);
    return c.json(previewTemplate(t, body.data));
  });

  app.delete('/notifications/templates/:ref', write, async (c) => {
    const tenant = c.get('principal').tenant;
    const t = await changeAudited(em(), audit(c), async (tem) => {
      const before = await templates.findTemplate(tem, tenant, idOrName(c));
      const t = await templates.deleteTemplate(tem, tenant, idOrName(c));
      return { result: t, audit: { action: 'template.delete', target: `template:${t.name}`, before: before && templates.presentTemplate(before), after: null } };
    });
    await cache.changed(tenant);
    return c.json({ success: true, message: '模板已删除', id: t.id, name: t.name });
  });

  app.post('/notifications/template', requireScope(SCOPES.send), async (c) => {
    const req = parseTemplateSend(await readJson(c));
    const who = c.get('principal');
    const ref = req.template_name ?? req.template_id!;
    const t = req.template_name ? await cache.get(em(), who.tenant, req.template_name) : await templates.findTemplate(em(), who.tenant, ref);
    if (!t || !t.is_active)
      throw new ValidationError([{ path: req.template_name ? 'template_name' : 'template_id', message: `no active template ${ref}` }]);
    const userId = req.recipient ? await resolveRecipient(em(), who.tenant, req.recipient) : null;
    if (req.recipient && userId === null) {
      const rendered = renderTemplate(t, req.template_vars, requestContext(req));
      if (hasTargets(req))
        throw new UnprocessableError(`No recipient has the address ${req.recipient}.`, [
          { path: 'recipient', message: 'is not a known address: register it with PUT /recipients/:user_id, or send it alone for a direct send' },
        ]);
      return directTemplateSend(c, t, req, rendered, req.recipient);
    }
    // each user reads the template in their own locale and time zone; users who read the same text share a notification
    const groups = await renderForRecipients((ids) => getRecipients(em(), who.tenant, ids), t, req, userId);
    const inputs = groups.length === 1 ? [toNotificationInput(t, req, groups[0].rendered, userId)] : groupInputs(t, req, groups);
    const results = await acceptNotifications(accept, who, inputs);
    const notifications = results.flatMap((r) => r.notifications);
    const [first] = notifications;
    const ids = notifications.map((n) => n.id);
    const state = first.status === 'scheduled' ? 'scheduled' : 'queued';
    if (results.some((r) => r.replayed)) c.header('idempotent-replayed', 'true');
    return c.json(
      {
        // the notification as stored-to-be, then the 智链OS API's answer (its `message` is the outcome, the text is in `content`)
        ...first,
        ids,
        count: ids.length,
        success: true,
        message: '模板通知已发送',
        template: t.name,
        template_version: t.version,
        results: Object.fromEntries(first.channels.map((ch) => [ch, state])),
      },
      202,
    );
  });

  /** The 智链OS API's template send to a bare address: straight to it, no inbox row; `?wait=` answers the outcome. */
  async function directTemplateSend(c: Context<ApiEnv>, t: TemplateRow, req: TemplateSend, rendered: RenderedTemplate, recipient: string) {
    const q = directWaitQuery.safeParse(c.req.query());
    if (!q.success) throw new ValidationError(fieldErrors(q.error), 'The query has invalid parameters.');
    const who = c.get('principal');
    const { send, skipped } = toDirectSend(t, req, rendered, recipient);
    const id = await sendDirect({ orm: deps.orm, queues: deps.queues }, who, send);
    const seed1 = { template: t.name, template_version: t.version, ...(skipped.length ? { skipped } : {}) };
    if (q.data.wait === undefined) {
      const results = Object.fromEntries(send.channels.map((ch) => [ch, 'queued']));
      return c.json({ id, success: true, message: '模板通知已受理', ...seed1, results }, 202);
    }
    const waitMs = Math.min(q.data.wait, DIRECT_MAX_WAIT_S, deps.config.REQUEST_TIMEOUT_MS / 1000 - 2) * 1000;
    const outcome = await waitForOutcome(deps.orm, who.tenant, id, waitMs);
    return c.json({ id, ...outcome, message: outcome.success ? '模板通知已发送' : outcome.message, ...seed1 });
  }

  return app;
}
