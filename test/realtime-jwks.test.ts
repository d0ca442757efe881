import { createServer, request, type Server } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createVerifier } from '../src/auth/jwt.js';
import { createHarness, uniq, type Harness } from './helpers/harness.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { connect, refusedUpgrade, startNode } from './helpers/ws-node.js';

/**
 * Tokens from a JWKS are verified by a promise, so their sockets are
 * upgraded after uWS's upgrade callback has returned (src/realtime/admission.ts,
 * upgradeLater): they must open and get their welcome like any other.
 */
let h: Harness;
let jwks: Server;
let jwksUrl: string;
let sign: (sub: string) => Promise<string>;

beforeAll(async () => {
  h = await createHarness();
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwks = createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks`;
  sign = (sub) =>
    new SignJWT({ tenant: h.tenant, roles: [], stores: [] }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject(sub).setIssuedAt().setExpirationTime('1h').sign(privateKey);
});
afterAll(async () => {
  await h?.close();
  jwks?.close();
});

const jwksNode = () => startNode(h, {}, { verifier: createVerifier({ secret: TEST_JWT_SECRET, jwksUrl, cacheSize: 1 }) });

test('sockets with JWKS tokens open and get their welcome, the first on an empty node and many at once', async () => {
  const node = await jwksNode();
  const first = await connect(`${node.url()}?token=${await sign(uniq('u'))}`);
  expect(first.frames[0]).toMatchObject({ event: 'welcome' });
  const many = await Promise.all(Array.from({ length: 40 }, async () => connect(`${node.url()}?token=${await sign(uniq('u'))}`)));
  for (const c of [first, ...many]) {
    expect(c.frames[0]).toMatchObject({ event: 'welcome', tenant: h.tenant });
    c.close();
  }
  expect((await refusedUpgrade(`${node.url()}?token=${(await sign(uniq('u'))).slice(0, -4)}AAAA`)).status).toBe(401);
});

test('a JWKS token upgrade that asks for Connection: close is refused with 400 naming the header', async () => {
  const node = await jwksNode();
  const token = await sign(uniq('u'));
  const answer = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: node.port,
        path: `/api/v1/ws?token=${token}`,
        headers: { connection: 'close', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
      },
    );
    req.on('upgrade', () => reject(new Error('the upgrade was accepted')));
    req.on('error', reject);
    req.end();
  });
  expect(answer.status).toBe(400);
  expect(answer.body.errors).toEqual([{ path: 'connection', message: 'must include Upgrade' }]);
});
