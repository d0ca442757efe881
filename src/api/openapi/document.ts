import { z } from 'zod';
import { SCOPES } from '../../auth/jwt.js';
import { ADMIN_COOKIE } from '../routes/admin.js';
import type { Access, Example, Operation, PathParam, QuerySpec, ResponseSpec } from './operation.js';
import { PROBLEMS, type ProblemStatus } from './problems.js';
import { problem, responseSchemas } from './responses.js';
import { ROUTE_TABLE, TAGS } from './route-table.js';

export type JsonSchema = z.core.JSONSchema.BaseSchema;

export interface ParameterObject {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  description?: string;
  schema: JsonSchema;
}

export interface MediaObject {
  schema: JsonSchema;
  examples?: Record<string, Example>;
}

export interface ResponseObject {
  description: string;
  headers?: Record<string, { description: string; schema: JsonSchema }>;
  content?: Record<string, MediaObject>;
}

export type Reference = { $ref: string };

export interface OperationObject {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security: Record<string, string[]>[];
  parameters?: ParameterObject[];
  requestBody?: { required: true; content: Record<string, MediaObject> };
  responses: Record<string, ResponseObject | Reference>;
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  tags: { name: string; description: string }[];
  paths: Record<string, Record<string, OperationObject>>;
  components: {
    schemas: Record<string, JsonSchema>;
    responses: Record<string, ResponseObject>;
    securitySchemes: Record<string, Record<string, string>>;
  };
}

const schemaRef = (name: string) => `#/components/schemas/${name}`;
const problemRef = (status: ProblemStatus) => ({ $ref: `#/components/responses/${PROBLEMS[status].name}` });

/** zod's JSON Schema without the keywords that only a standalone document carries. */
function embedded(schema: JsonSchema): JsonSchema {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

/** zod bounds every integer to the safe range; said of every count and id, that is noise. */
const override: z.core.JSONSchemaGeneratorParams['override'] = ({ jsonSchema }) => {
  if (jsonSchema.type !== 'integer') return;
  if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
  if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
};

/**
 * The request bodies as components, from the schemas the routes validate
 * with: their input side (before defaults and transforms), which is what a
 * caller sends, so `type` with a default is optional and an alias such as
 * `message` sits beside `content`.
 */
function requestComponents(operations: readonly Operation[]): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  const named = new Map<string, z.ZodType>();
  for (const { body, operationId } of operations) {
    if (!body) continue;
    const earlier = named.get(body.name);
    if (earlier && earlier !== body.schema) throw new Error(`${operationId}: request body name ${body.name} names another schema too`);
    if (!earlier) registry.add(body.schema, { id: body.name });
    named.set(body.name, body.schema);
  }
  const { schemas } = z.toJSONSchema(registry, { io: 'input', uri: schemaRef, override });
  return Object.fromEntries(Object.entries(schemas).map(([name, s]) => [name, embedded(s)]));
}

/** The answers' schemas (src/api/openapi/responses.ts), as the api writes them. */
function responseComponents(): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(responseSchemas, { io: 'output', uri: schemaRef, override });
  return Object.fromEntries(Object.entries(schemas).map(([name, s]) => [name, embedded(s)]));
}

function security(access: Access): Record<string, string[]>[] {
  switch (access.kind) {
    case 'open':
      return [];
    case 'token':
      return access.scopes?.length ? access.scopes.map((scope) => ({ bearerAuth: [scope] })) : [{ bearerAuth: [] }];
    case 'metrics':
      // {} first: no token at all is fine unless METRICS_TOKEN is set
      return [{}, { metricsToken: [] }];
    case 'admin-ui':
      return [{ bearerAuth: [SCOPES.admin] }, { adminCookie: [SCOPES.admin] }];
  }
}

function pathParameters(op: Operation): ParameterObject[] {
  const named = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  const given = Object.keys(op.pathParams ?? {});
  if (named.join() !== given.join()) throw new Error(`${op.operationId}: path parameters ${named.join(', ')} but pathParams ${given.join(', ')}`);
  return Object.entries<PathParam>(op.pathParams ?? {}).map(([name, p]) => ({
    name,
    in: 'path',
    required: true,
    description: p.description,
    schema: embedded(z.toJSONSchema(p.schema)),
  }));
}

/** One parameter per property of the query's schema (its input side: what the URL carries). */
function queryParameters(op: Operation, query: QuerySpec): ParameterObject[] {
  const json = z.toJSONSchema(query.schema, { io: 'input', override });
  const properties = json.properties ?? {};
  const required = new Set(json.required ?? []);
  for (const name of Object.keys(query.notes ?? {}))
    if (!(name in properties)) throw new Error(`${op.operationId}: a note for query parameter ${name}, which its schema does not have`);
  return Object.entries(properties).map(([name, schema]) => {
    const { description, ...rest } = schema as JsonSchema;
    const text = query.notes?.[name] ?? description;
    return { name, in: 'query', required: required.has(name), ...(text ? { description: text } : {}), schema: rest };
  });
}

function headersOf(headers: Record<string, string> | undefined): Pick<ResponseObject, 'headers'> {
  if (!headers) return {};
  const string: JsonSchema = { type: 'string' };
  return { headers: Object.fromEntries(Object.entries(headers).map(([name, description]) => [name, { description, schema: string }])) };
}

function responseObject(op: Operation, spec: ResponseSpec): ResponseObject {
  const media = spec.media ?? 'application/json';
  let schema: JsonSchema | undefined;
  if (spec.schema) {
    const id = responseSchemas.get(spec.schema)?.id;
    if (!id) throw new Error(`${op.operationId}: a response schema that responses.ts does not name`);
    schema = { $ref: schemaRef(id) };
  } else if (spec.media) {
    schema = { type: 'string' };
  }
  return {
    description: spec.description,
    ...headersOf(spec.headers),
    ...(schema ? { content: { [media]: { schema, ...(spec.examples ? { examples: spec.examples } : {}) } } } : {}),
  };
}

/** The problems an operation may answer: those its access and input imply, and those it names. */
export function problemsOf(op: Operation): ProblemStatus[] {
  const statuses = new Set<ProblemStatus>(op.problems ?? []);
  if (op.body || op.query) statuses.add(400);
  if (op.body) statuses.add(413);
  if (op.access.kind === 'token') for (const s of [401, 429, 503] as const) statuses.add(s);
  return [...statuses].sort((a, b) => a - b);
}

function operationObject(op: Operation): OperationObject {
  const parameters = [...pathParameters(op), ...(op.query ? queryParameters(op, op.query) : [])];
  const responses: OperationObject['responses'] = {};
  for (const [status, spec] of Object.entries(op.responses)) responses[status] = responseObject(op, spec);
  for (const status of problemsOf(op)) responses[status] ??= problemRef(status);
  const sorted = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)));
  return {
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    tags: [op.tag],
    security: security(op.access),
    ...(parameters.length ? { parameters } : {}),
    ...(op.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: schemaRef(op.body.name) }, examples: op.body.examples } } } }
      : {}),
    responses: sorted,
  };
}

function problemResponses(): Record<string, ResponseObject> {
  const problemId = responseSchemas.get(problem)!.id;
  return Object.fromEntries(
    Object.values(PROBLEMS).map((p) => [
      p.name,
      {
        description: p.description,
        ...headersOf('headers' in p ? p.headers : undefined),
        content: { 'application/problem+json': { schema: { $ref: schemaRef(problemId) }, examples: { [p.name]: p.example } } },
      },
    ]),
  );
}

const DESCRIPTION = `Herald sends notifications to users, roles, stores or a whole tenant, keeps each user's inbox, pushes it over WebSocket and delivers it on external channels.

Every /api/v1 call carries \`Authorization: Bearer <JWT>\` (HS256 with JWT_SECRET, or a JWKS key). Claims: \`sub\` (the user), \`tenant\`, \`roles\`, \`stores\`, \`scope\` (space-separated: notify:send, templates:write, admin). A user token reads and changes only its own inbox.

Bodies are JSON; errors are application/problem+json. Both legacy API shapes are accepted where they differ (field names such as message/content and extra_data/metadata, paging by limit/offset or page/page_size), and answers carry both names.

Realtime: ws://<host>/api/v1/ws?token=<JWT> (not described here).`;

/** The OpenAPI 3.1 document of every operation in `operations` (default: the whole api). */
export function buildOpenApiDocument(operations: readonly Operation[] = ROUTE_TABLE): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const op of operations) {
    const item = (paths[op.path] ??= {});
    if (item[op.method]) throw new Error(`${op.method.toUpperCase()} ${op.path} is in the route table twice`);
    item[op.method] = operationObject(op);
  }
  const requests = requestComponents(operations);
  const responses = responseComponents();
  for (const name of Object.keys(requests)) if (name in responses) throw new Error(`schema name ${name} is both a request and a response`);
  const schemas = Object.fromEntries(Object.entries({ ...requests, ...responses }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return {
    openapi: '3.1.0',
    info: { title: 'Herald API', version: '1', description: DESCRIPTION },
    tags: TAGS.map((t) => ({ ...t })),
    paths,
    components: {
      schemas,
      responses: problemResponses(),
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT; the scopes an operation names are in its `scope` claim.' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, when it is set.' },
        adminCookie: { type: 'apiKey', in: 'cookie', name: ADMIN_COOKIE, description: 'Set by the operator sign-in; holds an admin token.' },
      },
    },
  };
}
