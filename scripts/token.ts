/**
 * Prints a development token:
 *   npm run token -- --sub user-123 --roles store_manager --stores store-1 --scope "notify:send admin" --tenant default --expires 30d
 */
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../src/config.js';
import { signToken } from '../src/auth/jwt.js';

const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    tenant: { type: 'string', default: 'default' },
    roles: { type: 'string', default: '' },
    stores: { type: 'string', default: '' },
    scope: { type: 'string', default: '' },
    expires: { type: 'string', default: '30d' },
  },
});
if (!values.sub) {
  console.error('usage: npm run token -- --sub <user id> [--roles a,b] [--stores s1,s2] [--scope "notify:send admin"] [--tenant t] [--expires 30d]');
  process.exit(2);
}
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const config = loadConfigOrExit();
if (config.jwtSecretIsDefault) console.error('warning: signing with the development JWT_SECRET');
console.log(
  await signToken(config.JWT_SECRET, {
    sub: values.sub,
    tenant: values.tenant,
    roles: list(values.roles!),
    stores: list(values.stores!),
    scope: values.scope,
    expiresIn: values.expires,
  }),
);
