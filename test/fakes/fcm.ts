import { randomBytes } from 'node:crypto';
import { exportPKCS8, exportSPKI, generateKeyPair, importSPKI, jwtVerify } from 'jose';
import { FCM_SCOPE } from '../../src/channels/push/fcm.js';
import { Script, startHttpFake } from './http-fake.js';

export interface FcmSent {
  token: string;
  title: string;
  body: string;
  data: Record<string, string>;
  name: string;
}

/** A fresh RSA service account for a test (the fake knows only its public key). */
export async function makeServiceAccount(projectId = 'herald-test') {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  return {
    projectId,
    clientEmail: `herald@${projectId}.iam.gserviceaccount.com`,
    privateKeyPem: await exportPKCS8(privateKey),
    publicKeyPem: await exportSPKI(publicKey),
  };
}

const fcmError = (status: number, code: string, message: string, errorCode?: string) => ({
  status,
  json: {
    error: {
      code: status,
      message,
      status: code,
      details: errorCode ? [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] : [],
    },
  },
});

/**
 * A fake of Google's OAuth token endpoint and FCM HTTP v1. The token
 * endpoint takes grant_type jwt-bearer and verifies the assertion as Google
 * does: RS256 by the service account's key, iss = client email, aud = the
 * token URL, the firebase.messaging scope, exp at most an hour after iat.
 * messages:send needs that access token (401 UNAUTHENTICATED otherwise) and
 * answers 404 UNREGISTERED for device tokens it does not know.
 */
export async function startFcmFake(account: { projectId: string; clientEmail: string; publicKeyPem: string }, devices: string[] = []) {
  const publicKey = await importSPKI(account.publicKeyPem, 'RS256');
  const known = new Set(devices);
  const accessTokens = new Map<string, number>();
  const sent: FcmSent[] = [];
  const script = new Script();
  let tokenRequests = 0;
  let tokenUrl = '';

  const fake = await startHttpFake(async (req) => {
    if (req.path === '/token' && req.method === 'POST') {
      tokenRequests++;
      const form = new URLSearchParams(req.body);
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
        return { status: 400, json: { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' } };
      try {
        const { payload } = await jwtVerify(form.get('assertion') ?? '', publicKey, {
          algorithms: ['RS256'],
          issuer: account.clientEmail,
          audience: tokenUrl,
        });
        if (payload.scope !== FCM_SCOPE) throw new Error('scope');
        if (!payload.iat || !payload.exp || payload.exp - payload.iat > 3600) throw new Error('lifetime');
      } catch (err) {
        return { status: 400, json: { error: 'invalid_grant', error_description: `Invalid JWT: ${(err as Error).message}` } };
      }
      const token = `ya29.${randomBytes(16).toString('hex')}`;
      accessTokens.set(token, Date.now() + 3600_000);
      return { json: { access_token: token, expires_in: 3599, token_type: 'Bearer' } };
    }
    const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.path);
    if (!m || req.method !== 'POST') return { status: 404, json: { error: { code: 404, message: 'not found', status: 'NOT_FOUND' } } };
    const auth = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
    const exp = auth ? accessTokens.get(auth[1]) : undefined;
    if (exp === undefined || exp < Date.now()) return fcmError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    if (m[1] !== account.projectId) return fcmError(403, 'PERMISSION_DENIED', 'SenderId mismatch', 'SENDER_ID_MISMATCH');
    let body: any;
    try {
      body = JSON.parse(req.body);
    } catch {
      return fcmError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.', 'INVALID_ARGUMENT');
    }
    const msg = body?.message;
    if (!msg?.token) return fcmError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument: message.token', 'INVALID_ARGUMENT');
    if (msg.data && Object.values(msg.data).some((v) => typeof v !== 'string'))
      return fcmError(400, 'INVALID_ARGUMENT', 'Invalid value at message.data: values must be strings', 'INVALID_ARGUMENT');
    const outcome = script.take();
    if (outcome === 'timeout') return { hang: true };
    if (outcome === 'http500') return fcmError(503, 'UNAVAILABLE', 'The service is currently unavailable.', 'UNAVAILABLE');
    if (outcome === 'throttle') return { ...fcmError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded.', 'QUOTA_EXCEEDED'), headers: { 'retry-after': '1' } };
    if (outcome === 'permanent') return fcmError(403, 'PERMISSION_DENIED', 'SenderId mismatch', 'SENDER_ID_MISMATCH');
    if (!known.has(msg.token)) return fcmError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED');
    const name = `projects/${account.projectId}/messages/0:${randomBytes(8).toString('hex')}`;
    sent.push({ token: msg.token, title: msg.notification?.title, body: msg.notification?.body, data: msg.data ?? {}, name });
    return { json: { name } };
  });
  tokenUrl = `${fake.url}/token`;

  return {
    ...fake,
    tokenUrl,
    sent,
    script,
    get tokenRequests() {
      return tokenRequests;
    },
    expireTokens() {
      for (const t of accessTokens.keys()) accessTokens.set(t, 0);
    },
  };
}
