import type { z } from 'zod';
import type { ProblemStatus } from './problems.js';

/** The HTTP methods Herald serves, as OpenAPI spells them. */
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who may call an operation. */
export type Access =
  /** no token */
  | { kind: 'open' }
  /** `Authorization: Bearer <JWT>`; with `scopes`, the token needs one of them */
  | { kind: 'token'; scopes?: readonly string[] }
  /** open, unless METRICS_TOKEN is set: then that token as a bearer token */
  | { kind: 'metrics' }
  /** an `admin` token as a bearer token, the sign-in cookie or `?token=` */
  | { kind: 'admin-ui' };

export interface Example {
  summary: string;
  value: unknown;
}

/** A request body: the schema the route validates it with, named in components.schemas. */
export interface BodySpec {
  name: string;
  schema: z.ZodType;
  examples: Record<string, Example>;
}

/** A query: the schema the route validates it with; `notes` describe parameters the schema does not. */
export interface QuerySpec {
  schema: z.ZodObject;
  notes?: Record<string, string>;
}

/** A path parameter: how the route checks it, in words and as a schema. */
export interface PathParam {
  description: string;
  schema: z.ZodType;
}

export interface ResponseSpec {
  description: string;
  /** the body's schema: one from responses.ts (named there) */
  schema?: z.ZodType;
  /** the body's media type (default application/json; HTML and Prometheus text have no schema) */
  media?: string;
  examples?: Record<string, Example>;
  headers?: Record<string, string>;
}

/** One row of the route table: everything the document and the /docs page say about an operation. */
export interface Operation {
  method: Method;
  /** OpenAPI form: `/api/v1/notifications/{id}` */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  pathParams?: Record<string, PathParam>;
  query?: QuerySpec;
  body?: BodySpec;
  responses: Record<number, ResponseSpec>;
  /** problems this operation answers besides those its access and input imply (400, 401, 403, 413, 429, 503) */
  problems?: ProblemStatus[];
}
