import type { JsonSchema, MediaObject, OpenApiDocument, OperationObject, ParameterObject, Reference, ResponseObject } from './document.js';

/**
 * GET /docs: the OpenAPI document as one HTML page for people. Rendered
 * here from the document alone (no script, no stylesheet or font from
 * elsewhere), so it says exactly what /openapi.json says and works with no
 * network.
 */

const escape = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** Escaped text with its `code` spans. */
const inline = (text: string) => escape(text).replace(/`([^`]+)`/g, '<code>$1</code>');

/** Escaped text in paragraphs (a blank line between them). */
const prose = (text: string) =>
  text
    .split(/\n\s*\n/)
    .map((para) => `<p>${inline(para)}</p>`)
    .join('\n');

const refName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);
const schemaLink = (ref: string) => `<a href="#schema-${escape(refName(ref))}">${escape(refName(ref))}</a>`;
const isNull = (s: JsonSchema) => s.type === 'null';
/** An array's item schema (`true` and tuples read as anything). */
const itemsOf = (s: JsonSchema): JsonSchema | undefined => (s.items && typeof s.items === 'object' && !Array.isArray(s.items) ? s.items : undefined);

/** A schema's type in a few words: `string (date-time)`, `array of Notification`, `"low" | "high"`. */
function typeOf(s: JsonSchema): string {
  if (s.$ref) return schemaLink(s.$ref);
  if (s.const !== undefined) return `<code>${escape(JSON.stringify(s.const))}</code>`;
  if (s.enum) return s.enum.map((v) => `<code>${escape(JSON.stringify(v))}</code>`).join(' | ');
  const anyOf = s.anyOf ?? s.oneOf;
  if (anyOf) {
    const [nulls, others] = [anyOf.filter(isNull), anyOf.filter((b) => !isNull(b))];
    return `${others.map(typeOf).join(' or ')}${nulls.length ? ' or null' : ''}`;
  }
  if (Array.isArray(s.type)) return s.type.map((t) => (t === 'null' ? 'null' : typeOf({ ...s, type: t }))).join(' or ');
  switch (s.type) {
    case 'array':
      return `array of ${itemsOf(s) ? typeOf(itemsOf(s)!) : 'anything'}`;
    case 'object':
      if (!s.properties && s.additionalProperties && typeof s.additionalProperties === 'object' && Object.keys(s.additionalProperties).length)
        return `map of string → ${typeOf(s.additionalProperties)}`;
      return 'object';
    case undefined:
      return 'anything';
    default:
      return s.format ? `${s.type} (${escape(s.format)})` : escape(s.type);
  }
}

/** Limits and defaults: `1–200 characters`, `at most 1000 items`, `default "info"`. */
function limitsOf(s: JsonSchema): string[] {
  const range = (min: number | undefined, max: number | undefined, unit: string) => {
    if (min !== undefined && max !== undefined) return [`${min}–${max}${unit}`];
    if (min !== undefined) return [`at least ${min}${unit}`];
    if (max !== undefined) return [`at most ${max}${unit}`];
    return [];
  };
  const out = [
    ...range(s.minLength, s.maxLength, ' characters'),
    ...range(s.minimum, s.maximum, ''),
    ...range(s.minItems, s.maxItems, ' items'),
  ];
  if (s.pattern && !s.format) out.push(`matches <code>${escape(s.pattern)}</code>`);
  if (s.default !== undefined) out.push(`default <code>${escape(JSON.stringify(s.default))}</code>`);
  if (s.additionalProperties === false) out.push('no other fields');
  return out;
}

/** The properties of an object schema (or of an array's items) when they are written out here rather than linked. */
function nestedFields(s: JsonSchema): string {
  if (s.properties) return fieldList(s);
  const items = itemsOf(s);
  if (s.type === 'array' && items?.properties) return fieldList(items);
  const branch = (s.anyOf ?? []).find((b) => b.properties);
  return branch ? fieldList(branch) : '';
}

/** An object's fields as an indented list: name, type, required, limits, description; nested objects inside. */
function fieldList(s: JsonSchema): string {
  const required = new Set(s.required ?? []);
  const items = Object.entries(s.properties ?? {}).map(([name, field]) => {
    const f = field as JsonSchema;
    const notes = [...(required.has(name) ? ['<strong>required</strong>'] : []), ...limitsOf(f)];
    // a list's words may be on its items (the channel names' aliases)
    const words = f.description ?? itemsOf(f)?.description;
    const description = words ? ` — ${inline(words)}` : '';
    return `<li><code class="field">${escape(name)}</code> <span class="type">${typeOf(f)}</span>${notes.length ? ` <span class="limits">${notes.join(' · ')}</span>` : ''}${description}${nestedFields(f)}</li>`;
  });
  return items.length ? `<ul class="fields">${items.join('')}</ul>` : '';
}

/** A schema as the reader needs it: a named one by name with its fields, others by type. */
function schemaBlock(doc: OpenApiDocument, s: JsonSchema): string {
  if (s.$ref) {
    const target = doc.components.schemas[refName(s.$ref)];
    return `<p class="schema">Schema: ${schemaLink(s.$ref)}${target?.anyOf ? ` — one of ${typeOf(target)}` : ''}</p>${target ? fieldList(target) : ''}`;
  }
  return `<p class="schema">Schema: ${typeOf(s)}</p>${fieldList(s)}`;
}

function examplesBlock(examples: MediaObject['examples']): string {
  return Object.values(examples ?? {})
    .map((e) => `<details open><summary>Example: ${escape(e.summary)}</summary><pre>${escape(JSON.stringify(e.value, null, 2))}</pre></details>`)
    .join('');
}

function mediaBlock(doc: OpenApiDocument, content: Record<string, MediaObject> | undefined): string {
  return Object.entries(content ?? {})
    .map(([type, media]) => `<p class="media"><code>${escape(type)}</code></p>${media.schema.type === 'string' ? '' : schemaBlock(doc, media.schema)}${examplesBlock(media.examples)}`)
    .join('');
}

function securityText(security: OperationObject['security']): string {
  if (!security.length) return 'none';
  return security
    .map((req) => {
      const entries = Object.entries(req);
      if (!entries.length) return 'none';
      return entries
        .map(([scheme, scopes]) => `<code>${escape(scheme)}</code>${scopes.length ? ` with scope ${scopes.map((x) => `<code>${escape(x)}</code>`).join(', ')}` : ''}`)
        .join(' and ');
    })
    .join(', or ');
}

function parametersBlock(parameters: ParameterObject[] | undefined): string {
  if (!parameters?.length) return '';
  const rows = parameters.map(
    (p) =>
      `<tr><td><code>${escape(p.name)}</code></td><td>${p.in}</td><td>${typeOf(p.schema)}${limitsOf(p.schema).length ? `<br><span class="limits">${limitsOf(p.schema).join(' · ')}</span>` : ''}</td><td>${p.required ? 'yes' : 'no'}</td><td>${p.description ? inline(p.description) : ''}</td></tr>`,
  );
  return `<h4>Parameters</h4><table><thead><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>description</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function responseBlock(doc: OpenApiDocument, status: string, r: ResponseObject | Reference): string {
  if ('$ref' in r) {
    const name = refName(r.$ref);
    const shared = doc.components.responses[name];
    return `<li><strong>${status}</strong> <a href="#error-${escape(name)}">${escape(name)}</a>${shared ? ` — ${inline(shared.description)}` : ''}</li>`;
  }
  const headers = Object.entries(r.headers ?? {})
    .map(([name, h]) => `<li><code>${escape(name)}</code>: ${inline(h.description)}</li>`)
    .join('');
  return `<li><strong>${status}</strong> ${inline(r.description)}${headers ? `<ul class="headers">${headers}</ul>` : ''}${mediaBlock(doc, r.content)}</li>`;
}

function operationBlock(doc: OpenApiDocument, method: string, path: string, op: OperationObject): string {
  return `<article class="op" id="${escape(op.operationId)}">
<h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${escape(path)}</code></h3>
<p class="summary">${escape(op.summary)}</p>
${op.description ? prose(op.description) : ''}
<p class="auth"><strong>Auth:</strong> ${securityText(op.security)}</p>
${parametersBlock(op.parameters)}
${op.requestBody ? `<h4>Request body</h4>${mediaBlock(doc, op.requestBody.content)}` : ''}
<h4>Responses</h4><ul class="responses">${Object.entries(op.responses)
    .map(([status, r]) => responseBlock(doc, status, r))
    .join('')}</ul>
</article>`;
}

const STYLE = `body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1f24;background:#fff}
.wrap{max-width:72rem;margin:0 auto;padding:1rem 1.5rem 4rem}
h1{margin:.5rem 0}h2{border-bottom:2px solid #d0d7de;padding-bottom:.25rem;margin-top:2.5rem}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.75rem;overflow:auto}
nav ul{list-style:none;padding-left:0;columns:2}nav li{margin:.15rem 0;break-inside:avoid}
.op{border:1px solid #d0d7de;border-radius:8px;padding:.25rem 1.25rem 1rem;margin:1.25rem 0}
.method{display:inline-block;min-width:4.2em;text-align:center;border-radius:4px;color:#fff;font:600 12px/1.9 ui-monospace,monospace;padding:0 .3em;vertical-align:middle}
.get{background:#0969da}.post{background:#1a7f37}.put{background:#9a6700}.patch{background:#8250df}.delete{background:#cf222e}
.summary{font-weight:600}.auth{background:#fff8c5;border-radius:4px;padding:.25rem .5rem;display:inline-block}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}
ul.fields{border-left:2px solid #d0d7de;padding-left:1.25rem;margin:.25rem 0}ul.fields li{margin:.2rem 0}
.field{font-weight:600}.type{color:#0550ae}.limits{color:#57606a;font-size:.9em}
details summary{cursor:pointer;color:#57606a;margin:.4rem 0}.media{margin:.4rem 0 .2rem}`;

/** The whole reference page for `doc`. */
export function renderDocsPage(doc: OpenApiDocument): string {
  const operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));
  const byTag = doc.tags.map((tag) => ({ tag, ops: operations.filter((o) => o.op.tags.includes(tag.name)) }));
  const nav = byTag
    .map(
      ({ tag, ops }) =>
        `<h3><a href="#tag-${escape(tag.name)}">${escape(tag.name)}</a></h3><ul>${ops
          .map((o) => `<li><a href="#${escape(o.op.operationId)}"><span class="method ${o.method}">${o.method.toUpperCase()}</span> <code>${escape(o.path)}</code></a> ${escape(o.op.summary)}</li>`)
          .join('')}</ul>`,
    )
    .join('');
  const sections = byTag
    .map(({ tag, ops }) => `<section><h2 id="tag-${escape(tag.name)}">${escape(tag.name)}</h2>${prose(tag.description)}${ops.map((o) => operationBlock(doc, o.method, o.path, o.op)).join('\n')}</section>`)
    .join('\n');
  const schemes = Object.entries(doc.components.securitySchemes)
    .map(([name, s]) => `<li><code>${escape(name)}</code>: ${inline(s.description ?? s.type)}</li>`)
    .join('');
  const errors = Object.entries(doc.components.responses)
    .map(([name, r]) => `<article class="op" id="error-${escape(name)}"><h3>${escape(name)}</h3>${prose(r.description)}${mediaBlock(doc, r.content)}</article>`)
    .join('\n');
  const schemas = Object.entries(doc.components.schemas)
    .map(
      ([name, s]) =>
        `<article class="op" id="schema-${escape(name)}"><h3>${escape(name)}</h3>${s.description ? prose(s.description) : ''}<p class="schema">${typeOf(s)}</p>${fieldList(s)}</article>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(doc.info.title)} reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body><div class="wrap">
<header><h1>${escape(doc.info.title)} <small>v${escape(doc.info.version)}</small></h1>
${prose(doc.info.description)}
<p>The same, for machines: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${escape(doc.openapi)}).</p>
<h3>Auth schemes</h3><ul>${schemes}</ul></header>
<nav><h2>Operations</h2>${nav}<p><a href="#errors">Errors</a> · <a href="#schemas">Schemas</a></p></nav>
<main>
${sections}
<section><h2 id="errors">Errors</h2><p>Every error is <code>application/problem+json</code>; these are the ones operations share.</p>${errors}</section>
<section><h2 id="schemas">Schemas</h2>${schemas}</section>
</main></div></body></html>
`;
}
