import { Hono } from 'hono';
import { getPreferences, presentPreferences, putPreferences } from '../../domain/preferences/preferences.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiEnv } from '../env.js';

/** GET/PUT /preferences: the token's own user's channels per type, do-not-disturb window and mute. */
export function preferenceRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const em = () => deps.orm.em.fork();

  app.get('/preferences', async (c) => {
    const who = c.get('principal');
    return c.json(presentPreferences(await getPreferences(em(), who.tenant, who.sub)));
  });

  app.put('/preferences', async (c) => {
    const who = c.get('principal');
    return c.json(presentPreferences(await putPreferences(em(), who.tenant, who.sub, await readJson(c))));
  });

  return app;
}
