import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { ConflictError, NotFoundError, UnprocessableError, type FieldError } from '../../errors.js';
import { isUuid } from '../ids.js';
import { PRIORITIES, TYPES, notificationSchema } from '../sending/input.js';
import { syntaxError, variablesOf } from './liquid.js';
import { allTexts, variantsSchema, type Variants } from './variants.js';

/**
 * Templates of a tenant, and the system templates (tenant '*', the eight
 * the 智链OS API ships) that every tenant sees until it changes or deletes its own copy:
 * changing a system template writes the tenant's copy (copy-on-write), and
 * deleting one writes a deleted copy that hides it. The effective template
 * of a name is the tenant's most recent row, else the system row.
 */
export const SYSTEM_TENANT = '*';

export interface TemplateRow {
  id: string;
  tenant: string;
  name: string;
  description: string | null;
  title: string;
  content: string;
  type: string;
  priority: string;
  channels: string[];
  /** per-channel texts: email { subject, html }, sms { template_code }, … */
  channel_overrides: Record<string, Record<string, string>>;
  /** per-locale texts (see variants.ts): { "zh-CN": { title, content, email: { subject, html, text }, sms: { text }, … } } */
  variants: Variants;
  variables: string[];
  is_active: boolean;
  version: number;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

const name = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be 1–100 letters, digits, _ . or -');
const overrides = z.record(z.string().min(1).max(40), z.record(z.string().min(1).max(40), z.string().max(100_000)));

const fields = {
  description: z.string().max(1000).nullable(),
  title: z.string().trim().min(1).max(200),
  content: z.string().min(1).max(2000),
  type: z.enum(TYPES),
  priority: z.enum(PRIORITIES),
  channels: notificationSchema.shape.channels.unwrap().refine((l) => l.length > 0, 'needs at least one channel'),
  channel_overrides: overrides,
  variants: variantsSchema,
  variables: z.array(z.string().min(1).max(200)).max(200),
  is_active: z.boolean(),
};

export const templateCreateSchema = z.strictObject({
  name,
  ...fields,
  description: fields.description.optional(),
  type: fields.type.default('info'),
  priority: fields.priority.default('normal'),
  channels: fields.channels.default(['app']),
  channel_overrides: fields.channel_overrides.default({}),
  variants: fields.variants.default({}),
  variables: fields.variables.optional(),
  is_active: fields.is_active.default(true),
});
export type TemplateCreate = z.infer<typeof templateCreateSchema>;

/** PUT and PATCH change the fields they name; the rest stay. */
export const templateUpdateSchema = z.strictObject({
  name: name.optional(),
  description: fields.description.optional(),
  title: fields.title.optional(),
  content: fields.content.optional(),
  type: fields.type.optional(),
  priority: fields.priority.optional(),
  channels: fields.channels.optional(),
  channel_overrides: fields.channel_overrides.optional(),
  variants: fields.variants.optional(),
  variables: fields.variables.optional(),
  is_active: fields.is_active.optional(),
});
export type TemplateUpdate = z.infer<typeof templateUpdateSchema>;

type Texts = Pick<TemplateRow, 'title' | 'content' | 'channel_overrides'> & { variants?: Variants };

/** Every variable the template reads, in its own texts, channel texts and variants. */
export function usedVariables(t: Texts): string[] {
  return [...new Set(allTexts(t).flatMap((x) => variablesOf(x.text)))];
}

/** Per-channel texts keyed like `html`, `*_html` are HTML: their values are escaped. */
export const isHtmlKey = (key: string) => key === 'html' || key.endsWith('_html');

/** Every text must parse as Liquid: one 422 names each that does not, with Liquid's message. */
export function checkSyntax(t: Partial<Texts>): void {
  const errors: FieldError[] = [];
  for (const { path, text, key } of allTexts(t)) {
    const err = syntaxError(text, { html: isHtmlKey(key) });
    if (err) errors.push({ path, message: `is not a valid template: ${err}` });
  }
  if (errors.length) throw new UnprocessableError('The template has texts that do not parse.', errors);
}

export interface TemplateJson {
  id: string;
  name: string;
  description: string | null;
  title: string;
  content: string;
  type: string;
  priority: string;
  channels: string[];
  channel_overrides: Record<string, Record<string, string>>;
  variants: Variants;
  variables: string[];
  is_active: boolean;
  version: number;
  /** a system template this tenant has not changed */
  system: boolean;
  created_at: string;
  updated_at: string;
}

export function presentTemplate(t: TemplateRow): TemplateJson {
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    title: t.title,
    content: t.content,
    type: t.type,
    priority: t.priority,
    channels: t.channels,
    channel_overrides: t.channel_overrides,
    variants: t.variants ?? {},
    variables: t.variables,
    is_active: t.is_active,
    version: t.version,
    system: t.tenant === SYSTEM_TENANT,
    created_at: new Date(t.created_at).toISOString(),
    updated_at: new Date(t.updated_at).toISOString(),
  };
}

const pgArray = (list: string[]) => `{${list.map((s) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;

/** The effective row per name (deleted ones included, so a deletion hides the system row). */
const EFFECTIVE = `select distinct on (name) * from templates
  where tenant in (?, '${SYSTEM_TENANT}') and (?::text is null or name = ?)
  order by name, (tenant = '${SYSTEM_TENANT}'), updated_at desc, version desc`;

async function effective(em: EntityManager, tenant: string, name: string | null): Promise<TemplateRow[]> {
  return em.execute<TemplateRow[]>(EFFECTIVE, [tenant, name, name]);
}

/** Live templates of a tenant (system ones included), by name. */
export async function listTemplates(em: EntityManager, tenant: string, opts: { includeInactive?: boolean } = {}): Promise<TemplateRow[]> {
  const rows = await effective(em, tenant, null);
  return rows.filter((t) => t.deleted_at == null && (opts.includeInactive || t.is_active));
}

/** The live template named `name`, or null. */
export async function findByName(em: EntityManager, tenant: string, name: string): Promise<TemplateRow | null> {
  const [row] = await effective(em, tenant, name);
  return row && row.deleted_at == null ? row : null;
}

/** By id or by name; an id names a version's row, answered with the name's live template. */
export async function findTemplate(em: EntityManager, tenant: string, idOrName: string): Promise<TemplateRow | null> {
  if (isUuid(idOrName)) {
    const [row] = await em.execute<Array<{ name: string }>>(`select name from templates where id = ? and tenant in (?, '${SYSTEM_TENANT}')`, [
      idOrName,
      tenant,
    ]);
    if (!row) return null;
    return findByName(em, tenant, row.name);
  }
  return findByName(em, tenant, idOrName);
}

async function mustFind(em: EntityManager, tenant: string, idOrName: string): Promise<TemplateRow> {
  const t = await findTemplate(em, tenant, idOrName);
  if (!t) throw new NotFoundError(`Template ${idOrName} was not found.`);
  return t;
}

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';

type Writable = Omit<TemplateRow, 'id' | 'tenant' | 'version' | 'created_at' | 'updated_at' | 'deleted_at'>;

/** Inserts a tenant row; its version follows every earlier version of the name, so versions never repeat. */
async function insertRow(em: EntityManager, tenant: string, t: Writable, deleted = false): Promise<TemplateRow> {
  try {
    const [row] = await em.execute<TemplateRow[]>(
      `insert into templates (tenant, name, description, title, content, type, priority, channels, channel_overrides, variants, variables, is_active, version, deleted_at)
       values (?, ?, ?, ?, ?, ?, ?, ?::text[], ?::jsonb, ?::jsonb, ?::text[], ?,
         coalesce((select max(version) from templates where tenant in (?, '${SYSTEM_TENANT}') and name = ?), 0) + 1,
         case when ? then now() end)
       returning *`,
      [
        tenant,
        t.name,
        t.description,
        t.title,
        t.content,
        t.type,
        t.priority,
        pgArray(t.channels),
        JSON.stringify(t.channel_overrides),
        JSON.stringify(t.variants ?? {}),
        pgArray(t.variables),
        t.is_active,
        tenant,
        t.name,
        deleted,
      ],
    );
    return row;
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError(`A template named ${t.name} already exists.`);
    throw err;
  }
}

export async function createTemplate(em: EntityManager, tenant: string, input: TemplateCreate): Promise<TemplateRow> {
  checkSyntax(input);
  if (await findByName(em, tenant, input.name)) throw new ConflictError(`A template named ${input.name} already exists; PUT changes it.`);
  const t = { ...input, description: input.description ?? null };
  return insertRow(em, tenant, { ...t, variables: input.variables ?? usedVariables(t) });
}

/** Changes a template and bumps its version; a system template becomes this tenant's copy. */
export async function updateTemplate(em: EntityManager, tenant: string, idOrName: string, patch: TemplateUpdate): Promise<TemplateRow> {
  checkSyntax(patch);
  const current = await mustFind(em, tenant, idOrName);
  const next = { ...current, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) } as TemplateRow;
  // declared variables follow the texts unless the caller declares them
  if (!patch.variables && (patch.title || patch.content || patch.channel_overrides || patch.variants)) next.variables = usedVariables(next);
  if (patch.name && patch.name !== current.name && (await findByName(em, tenant, patch.name)))
    throw new ConflictError(`A template named ${patch.name} already exists.`);
  if (current.tenant === SYSTEM_TENANT || (patch.name && patch.name !== current.name)) {
    // a copy (system template) or a rename: the old name's row goes, the new row carries on the version
    return em.transactional(async (tem) => {
      if (current.tenant !== SYSTEM_TENANT) await tem.execute(`update templates set deleted_at = now(), updated_at = now() where id = ?`, [current.id]);
      else if (patch.name && patch.name !== current.name) await insertRow(tem, tenant, current, true);
      const row = await insertRow(tem, tenant, next);
      if (row.version <= current.version) {
        const [bumped] = await tem.execute<TemplateRow[]>(`update templates set version = ? where id = ? returning *`, [current.version + 1, row.id]);
        return bumped;
      }
      return row;
    });
  }
  try {
    const [row] = await em.execute<TemplateRow[]>(
      `update templates set description = ?, title = ?, content = ?, type = ?, priority = ?, channels = ?::text[],
         channel_overrides = ?::jsonb, variants = ?::jsonb, variables = ?::text[], is_active = ?, version = version + 1, updated_at = now()
       where id = ? and deleted_at is null returning *`,
      [
        next.description,
        next.title,
        next.content,
        next.type,
        next.priority,
        pgArray(next.channels),
        JSON.stringify(next.channel_overrides),
        JSON.stringify(next.variants ?? {}),
        pgArray(next.variables),
        next.is_active,
        current.id,
      ],
    );
    if (!row) throw new NotFoundError(`Template ${idOrName} was not found.`);
    return row;
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError(`A template named ${next.name} already exists.`);
    throw err;
  }
}

/** Soft delete; deleting a system template hides it for this tenant only. */
export async function deleteTemplate(em: EntityManager, tenant: string, idOrName: string): Promise<TemplateRow> {
  const current = await mustFind(em, tenant, idOrName);
  if (current.tenant === SYSTEM_TENANT) return insertRow(em, tenant, current, true);
  const [row] = await em.execute<TemplateRow[]>(
    `update templates set deleted_at = now(), updated_at = now() where id = ? and deleted_at is null returning *`,
    [current.id],
  );
  if (!row) throw new NotFoundError(`Template ${idOrName} was not found.`);
  return row;
}
