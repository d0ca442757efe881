import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import type { ExternalChannel } from '../../../queues/jobs.js';
import type { RecipientRow } from '../../db/entities/recipient.js';
import { pgArray } from '../../db/query.js';
import { joinPushAddress, splitPushAddress } from '../../channels/push/address.js';
import { blindIndex, blindIndexes } from '../../crypto/blind-index.js';
import { dataKeys, openContact, sealContact } from '../../crypto/process-keys.js';
import { isSealed } from '../../crypto/sealed-value.js';

/** Contact values are stored sealed; one that already looks sealed would be taken for ciphertext when read back. */
const notSealedLooking = <T extends z.ZodString>(t: T) => t.refine((v) => !isSealed(v), 'must not have the form of an encrypted value (v1.<kid>.<iv>.<data>)');
const id = z.string().trim().min(1).max(128);
const contactId = notSealedLooking(id);
const optional = <T extends z.ZodType>(t: T) => t.nullable().optional();
const isTimeZone = (tz: string) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

/** A device token: addressOf joins a recipient's tokens with ',' into one push address. */
const pushToken = notSealedLooking(z.string().trim().min(1).max(4096).regex(/^[^,\s]+$/, 'must not contain commas or spaces'));

/** How many device tokens a recipient keeps per platform. */
export const PUSH_TOKENS_MAX = 20;

/** PUT /recipients/:user_id body: the whole record (absent fields are cleared, but absent push_tokens are kept). */
export const recipientSchema = z.strictObject({
  email: optional(z.string().trim().max(254).email()),
  phone: optional(z.string().trim().regex(/^\+?[0-9][0-9 -]{5,19}$/, 'must be a phone number, e.g. +8613800138000')),
  wecom_user_id: optional(contactId),
  feishu_open_id: optional(contactId),
  push_tokens: z
    .array(pushToken)
    .max(PUSH_TOKENS_MAX)
    .optional()
    .meta({ description: 'FCM device tokens; left out, the tokens already there (users register their own with PUT /me/push-tokens) are kept; [] clears them' }),
  webhook_url: optional(z.string().trim().max(2048).url().regex(/^https?:\/\//i, 'must be an http(s) URL')),
  roles: z.array(id).max(100).optional(),
  stores: z.array(id).max(100).optional(),
  timezone: optional(z.string().max(64).refine(isTimeZone, 'is not an IANA time zone, e.g. Asia/Shanghai')),
  locale: optional(z.string().max(35).regex(/^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$/, 'must be a locale, e.g. zh-CN')),
});
export type RecipientInput = z.infer<typeof recipientSchema>;

const COLS = `tenant, user_id, email, phone, wecom_user_id, feishu_open_id, push_tokens, apns_tokens, webhook_url, roles, stores,
  timezone, locale, created_at, updated_at`;

/** The blind indexes a row stores for its email and phone, made with the key that seals them. */
const indexesOf = (email: string | null | undefined, phone: string | null | undefined) => ({
  email_bidx: email == null ? null : blindIndex(dataKeys(), 'email', email),
  phone_bidx: phone == null ? null : blindIndex(dataKeys(), 'phone', phone),
});

/**
 * Replaces a recipient (and its role/store memberships) in one transaction.
 * The FCM tokens are replaced only when the body names `push_tokens`:
 * users register their own devices (PUT /me/push-tokens), and a service
 * syncing a user's addresses must not drop them by leaving the field out.
 * Every contact value is sealed before it reaches SQL, so not even a failed
 * statement's log carries one in clear.
 */
export async function putRecipient(em: EntityManager, tenant: string, userId: string, input: RecipientInput): Promise<RecipientRow> {
  const roles = [...new Set(input.roles ?? [])];
  const stores = [...new Set(input.stores ?? [])];
  const bidx = indexesOf(input.email, input.phone);
  return em.transactional(async (tem) => {
    const [row] = await tem.execute<RecipientRow[]>(
      `insert into recipients (tenant, user_id, email, phone, wecom_user_id, feishu_open_id, push_tokens, webhook_url, roles, stores, timezone, locale,
                               email_bidx, phone_bidx)
       values (?, ?, ?, ?, ?, ?, ?::text[], ?, ?::text[], ?::text[], ?, ?, ?, ?)
       on conflict (tenant, user_id) do update set
         email = excluded.email, phone = excluded.phone, wecom_user_id = excluded.wecom_user_id,
         feishu_open_id = excluded.feishu_open_id, webhook_url = excluded.webhook_url,
         email_bidx = excluded.email_bidx, phone_bidx = excluded.phone_bidx,
         push_tokens = case when ?::boolean then excluded.push_tokens else recipients.push_tokens end,
         roles = excluded.roles, stores = excluded.stores, timezone = excluded.timezone, locale = excluded.locale,
         updated_at = now()
       returning ${COLS}`,
      [
        tenant,
        userId,
        sealContact(input.email ?? null),
        sealContact(input.phone ?? null),
        sealContact(input.wecom_user_id ?? null),
        sealContact(input.feishu_open_id ?? null),
        pgArray([...new Set(input.push_tokens ?? [])].map((t) => sealContact(t))),
        sealContact(input.webhook_url ?? null),
        pgArray(roles),
        pgArray(stores),
        input.timezone ?? null,
        input.locale ?? null,
        bidx.email_bidx,
        bidx.phone_bidx,
        input.push_tokens !== undefined,
      ],
    );
    await tem.execute(`delete from recipient_audiences where tenant = ? and user_id = ?`, [tenant, userId]);
    const audiences = [...roles.map((r) => `r:${r}`), ...stores.map((s) => `s:${s}`)];
    if (audiences.length)
      await tem.execute(
        `insert into recipient_audiences (tenant, audience, user_id) select ?, a, ? from unnest(?::text[]) a on conflict do nothing`,
        [tenant, userId, pgArray(audiences)],
      );
    return row;
  });
}

export async function getRecipient(em: EntityManager, tenant: string, userId: string): Promise<RecipientRow | null> {
  const [row] = await em.execute<RecipientRow[]>(`select ${COLS} from recipients where tenant = ? and user_id = ?`, [tenant, userId]);
  return row ?? null;
}

export async function getRecipients(em: EntityManager, tenant: string, userIds: string[]): Promise<Map<string, RecipientRow>> {
  if (!userIds.length) return new Map();
  const rows = await em.execute<RecipientRow[]>(`select ${COLS} from recipients where tenant = ? and user_id = any(?::text[])`, [tenant, pgArray(userIds)]);
  return new Map(rows.map((r) => [r.user_id, r]));
}

export async function deleteRecipient(em: EntityManager, tenant: string, userId: string): Promise<boolean> {
  const res = await em.execute<{ user_id: string }[]>(`delete from recipients where tenant = ? and user_id = ? returning user_id`, [tenant, userId]);
  return res.length > 0;
}

/**
 * A recipient named by user id, email or phone (multi-channel sends name
 * people by address). Emails and phones are found by their blind index,
 * computed under every listed key so rows indexed before a key rotation are
 * found too; a row written before encryption and not yet rekeyed has no
 * index and is found by its plain value.
 */
export async function findRecipientByAddress(em: EntityManager, tenant: string, address: string): Promise<RecipientRow | null> {
  const keys = dataKeys();
  const [row] = await em.execute<RecipientRow[]>(
    `select ${COLS} from recipients where tenant = ? and (user_id = ?
       or email_bidx = any(?::text[]) or phone_bidx = any(?::text[])
       or (email is not null and email_bidx is null and lower(email) = lower(?))
       or (phone is not null and phone_bidx is null and phone = ?))
     order by (user_id = ?) desc limit 1`,
    [
      tenant,
      address,
      pgArray(blindIndexes(keys, 'email', address)),
      pgArray(blindIndexes(keys, 'phone', address)),
      address.trim(),
      address.trim(),
      address,
    ],
  );
  return row ?? null;
}

/**
 * One page of an audience's recipients, in user id order after `after`.
 * 'r:'/'s:' audiences walk recipient_audiences, '*' the recipients table:
 * either way one primary-key range scan per page.
 */
export async function recipientPage(
  em: EntityManager,
  tenant: string,
  audience: string,
  after: string | null,
  limit: number,
): Promise<RecipientRow[]> {
  if (audience === '*') {
    return em.execute<RecipientRow[]>(
      `select ${COLS} from recipients where tenant = ? and user_id > ? order by user_id limit ?`,
      [tenant, after ?? '', limit],
    );
  }
  const cols = COLS.split(',')
    .map((c) => `r.${c.trim()}`)
    .join(', ');
  return em.execute<RecipientRow[]>(
    `select ${cols} from recipient_audiences a join recipients r on r.tenant = a.tenant and r.user_id = a.user_id
     where a.tenant = ? and a.audience = ? and a.user_id > ? order by a.user_id limit ?`,
    [tenant, audience, after ?? '', limit],
  );
}

/**
 * Where a recipient is reached on a channel, in clear; null when it has no
 * address there. Push: its FCM tokens and its Apple tokens (prefixed
 * `apns:`, which sends them to APNs) joined by ','. `r` is a row as stored:
 * only the field the channel needs is opened.
 */
export function addressOf(r: RecipientRow | null | undefined, channel: ExternalChannel, metadata: Record<string, unknown> = {}): string | null {
  const metaUrl = typeof metadata.webhook_url === 'string' ? metadata.webhook_url : null;
  if (!r) return channel === 'webhook' ? metaUrl : null;
  switch (channel) {
    case 'email':
      return openContact(r.email);
    case 'sms':
      return openContact(r.phone);
    case 'wechat':
      return openContact(r.wecom_user_id);
    case 'feishu':
      return openContact(r.feishu_open_id);
    case 'push':
      return joinPushAddress(r.push_tokens.map(openContact), r.apns_tokens.map(openContact));
    case 'webhook':
      return openContact(r.webhook_url) ?? metaUrl;
  }
}

/** A stored row with its contact fields in clear (for the API, which shows a recipient's record to whoever manages it). */
export function openRecipient(r: RecipientRow): RecipientRow {
  return {
    ...r,
    email: openContact(r.email),
    phone: openContact(r.phone),
    wecom_user_id: openContact(r.wecom_user_id),
    feishu_open_id: openContact(r.feishu_open_id),
    webhook_url: openContact(r.webhook_url),
    push_tokens: r.push_tokens.map(openContact),
    apns_tokens: r.apns_tokens.map(openContact),
  };
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PHONE = /^\+?[0-9][0-9 -]{5,19}$/;
const URL_RE = /^https?:\/\//i;

/**
 * A raw multi-channel recipient as an address for one channel: an email
 * goes by email, a phone number by SMS, a URL by webhook; any other string
 * is a channel user id (WeCom user id, Feishu open_id, FCM token).
 */
export function classifyAddress(raw: string, channel: ExternalChannel): string | null {
  const s = raw.trim();
  const kind = EMAIL.test(s) ? 'email' : PHONE.test(s) ? 'phone' : URL_RE.test(s) ? 'url' : 'id';
  switch (channel) {
    case 'email':
      return kind === 'email' ? s : null;
    case 'sms':
      return kind === 'phone' ? s : null;
    case 'webhook':
      return kind === 'url' ? s : null;
    case 'feishu':
      // Feishu can address a user by email too
      return kind === 'id' || kind === 'email' ? s : null;
    case 'wechat':
    case 'push':
      return kind === 'id' ? s : null;
  }
}

export const PUSH_PLATFORMS = ['fcm', 'apns'] as const;
export type PushPlatform = (typeof PUSH_PLATFORMS)[number];

/** PUT /me/push-tokens body: one device of the caller's own. */
export const pushTokenSchema = z.strictObject({ token: pushToken, platform: z.enum(PUSH_PLATFORMS) });
export type PushTokenInput = z.infer<typeof pushTokenSchema>;

/** A recipient's device tokens (the row as stored), each in clear with its platform. */
export function pushTokensOf(r: Pick<RecipientRow, 'push_tokens' | 'apns_tokens'>): Array<{ token: string; platform: PushPlatform }> {
  return [
    ...r.push_tokens.map((token) => ({ token: openContact(token), platform: 'fcm' as const })),
    ...r.apns_tokens.map((token) => ({ token: openContact(token), platform: 'apns' as const })),
  ];
}

/** A stored device token beside its clear text: tokens that stay keep their stored form, only a new one is sealed. */
interface HeldToken {
  token: string;
  stored: string;
}
const held = (stored: string[]): HeldToken[] => stored.map((s) => ({ token: openContact(s), stored: s }));
const storedOf = (list: HeldToken[]) => pgArray(list.map((t) => t.stored));

/**
 * Rewrites a user's token lists under a row lock (FOR UPDATE), so a
 * registration, a removal and `npm run rekey` running at once each see the
 * others' result. Sealed tokens cannot be compared in SQL: they are opened
 * here and compared in clear. `edit` returns null when nothing changes.
 * False when the user has no record.
 */
async function editTokens(
  em: EntityManager,
  tenant: string,
  userId: string,
  edit: (lists: { fcm: HeldToken[]; apns: HeldToken[] }) => { fcm: HeldToken[]; apns: HeldToken[] } | null,
): Promise<boolean> {
  return em.transactional(async (tem) => {
    const [now] = await tem.execute<Array<Pick<RecipientRow, 'push_tokens' | 'apns_tokens'>>>(
      `select push_tokens, apns_tokens from recipients where tenant = ? and user_id = ? for update`,
      [tenant, userId],
    );
    if (!now) return false;
    const next = edit({ fcm: held(now.push_tokens), apns: held(now.apns_tokens) });
    if (!next) return false;
    await tem.execute(`update recipients set push_tokens = ?::text[], apns_tokens = ?::text[], updated_at = now() where tenant = ? and user_id = ?`, [
      storedOf(next.fcm),
      storedOf(next.apns),
      tenant,
      userId,
    ]);
    return true;
  });
}

/**
 * Adds a device token to a user's own record, creating the record if there
 * is none, and leaves every other address as it is. A token already there
 * moves to the end of its platform's list (and out of the other's: a device
 * has one platform); past PUSH_TOKENS_MAX the oldest is dropped, as apps
 * reinstalled over the years leave tokens nobody will remove.
 */
export async function addPushToken(em: EntityManager, tenant: string, userId: string, input: PushTokenInput): Promise<RecipientRow> {
  return em.transactional(async (tem) => {
    // created or not, the row is locked to commit (an upsert's update locks it), so two registrations at once
    // (even the first two) each see the other's token
    const [now] = await tem.execute<Array<Pick<RecipientRow, 'push_tokens' | 'apns_tokens'>>>(
      `insert into recipients (tenant, user_id) values (?, ?)
       on conflict (tenant, user_id) do update set updated_at = now()
       returning push_tokens, apns_tokens`,
      [tenant, userId],
    );
    const without = (list: string[]) => held(list).filter((t) => t.token !== input.token);
    const lists = { fcm: without(now.push_tokens), apns: without(now.apns_tokens) };
    lists[input.platform] = [...lists[input.platform], { token: input.token, stored: sealContact(input.token) }].slice(-PUSH_TOKENS_MAX);
    const [row] = await tem.execute<RecipientRow[]>(
      `update recipients set push_tokens = ?::text[], apns_tokens = ?::text[], updated_at = now()
       where tenant = ? and user_id = ? returning ${COLS}`,
      [storedOf(lists.fcm), storedOf(lists.apns), tenant, userId],
    );
    return row;
  });
}

/** Removes one of a user's device tokens, whatever its platform; false when the user has no such token. */
export async function removePushToken(em: EntityManager, tenant: string, userId: string, token: string): Promise<boolean> {
  return editTokens(em, tenant, userId, ({ fcm, apns }) => {
    const next = { fcm: fcm.filter((t) => t.token !== token), apns: apns.filter((t) => t.token !== token) };
    return next.fcm.length + next.apns.length < fcm.length + apns.length ? next : null;
  });
}

/** Removes device tokens FCM or APNs called dead, named as in the push address (Apple's with APNS_PREFIX). */
export async function removePushTokens(em: EntityManager, tenant: string, userId: string, tokens: string[]): Promise<void> {
  if (!tokens.length) return;
  const dead = splitPushAddress(tokens.join(','));
  await editTokens(em, tenant, userId, ({ fcm, apns }) => {
    const next = { fcm: fcm.filter((t) => !dead.fcm.includes(t.token)), apns: apns.filter((t) => !dead.apns.includes(t.token)) };
    return next.fcm.length + next.apns.length < fcm.length + apns.length ? next : null;
  });
}

/** The API's view of a stored recipient: the addresses in clear, for the services and admins that manage them (and the user). */
export function presentRecipient(stored: RecipientRow) {
  const r = openRecipient(stored);
  return {
    user_id: r.user_id,
    email: r.email,
    phone: r.phone,
    wecom_user_id: r.wecom_user_id,
    feishu_open_id: r.feishu_open_id,
    push_tokens: r.push_tokens,
    webhook_url: r.webhook_url,
    roles: r.roles,
    stores: r.stores,
    timezone: r.timezone,
    locale: r.locale,
    created_at: new Date(r.created_at).toISOString(),
    updated_at: new Date(r.updated_at).toISOString(),
  };
}
