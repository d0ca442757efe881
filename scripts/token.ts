/**
 * Prints a development token:
 *   npm run token -- --sub user-123 --roles store_manager --stores store-1 --scope "notify:send admin" --tenant default --expires 30d
 * Without --expires the token lives as long as the api accepts for its kind, at most 30 days
 * (JWT_USER_MAX_TTL_S, or JWT_SERVICE_MAX_TTL_S with notify:send, templates:write or admin).
 */
import { parseArgs } from 'node:util';
import { decodeJwt } from 'jose';
import { loadConfigOrExit } from '../src/config.js';
import { lifetimeOf, maxLifetimeOf, signToken } from '../src/auth/jwt.js';

const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    tenant: { type: 'string', default: 'default' },
    roles: { type: 'string', default: '' },
    stores: { type: 'string', default: '' },
    scope: { type: 'string', default: '' },
    expires: { type: 'string' },
  },
});
if (!values.sub) {
  console.error('usage: npm run token -- --sub <user id> [--roles a,b] [--stores s1,s2] [--scope "notify:send admin"] [--tenant t] [--expires 30d]');
  process.exit(2);
}
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const config = loadConfigOrExit();
if (config.jwtSecretIsDefault) console.error('warning: signing with the development JWT_SECRET');

const scopes = values.scope!.split(/\s+/).filter(Boolean);
const { maxS, kind } = maxLifetimeOf(scopes, { userMaxTtlS: config.JWT_USER_MAX_TTL_S, serviceMaxTtlS: config.JWT_SERVICE_MAX_TTL_S });
const variable = kind === 'user' ? 'JWT_USER_MAX_TTL_S' : 'JWT_SERVICE_MAX_TTL_S';
let token: string;
try {
  token = await signToken(config.JWT_SECRET, {
    sub: values.sub,
    tenant: values.tenant,
    roles: list(values.roles!),
    stores: list(values.stores!),
    scope: values.scope,
    expiresIn: values.expires ?? `${Math.min(maxS, 30 * 86_400)}s`,
  });
} catch (err) {
  console.error(`--expires ${values.expires}: ${(err as Error).message} (examples: 8h, 30d, 2 weeks)`);
  process.exit(2);
}
// the api refuses a token without a future exp or one that lives longer than its kind allows
const lifetime = lifetimeOf(decodeJwt(token))!;
if (lifetime <= 0) {
  console.error(`--expires ${values.expires}: the token would already be expired`);
  process.exit(2);
}
if (lifetime > maxS) {
  console.error(
    `--expires ${values.expires} is longer than the ${maxS} s (${+(maxS / 86_400).toFixed(2)} days) the api accepts for ${kind} tokens; ` +
      `ask for less, or raise ${variable} on the api and realtime nodes`,
  );
  process.exit(2);
}
console.log(token);
