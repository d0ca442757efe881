import { z } from 'zod';
import { CLIENT_PATH, INBOX_PATH } from '../../routes/client.js';
import { DEMO_PATH, DEMO_SCRIPT_PATH } from '../../routes/inbox-demo.js';
import type { Operation } from '../operation.js';

/** A bundled client script: both are served and cached the same way. */
function clientScript(path: string, operationId: string, summary: string, description: string): Operation {
  return {
    method: 'get',
    path,
    operationId,
    summary,
    description,
    tag: 'Clients',
    access: { kind: 'open' },
    query: {
      schema: z.object({ v: z.string().optional() }),
      notes: { v: "the bundle's hash (its ETag without quotes): with the current one the answer is cacheable for a year, immutable; otherwise no-cache" },
    },
    responses: {
      200: { description: 'The ES module.', media: 'text/javascript', headers: { ETag: "the bundle's hash", 'Cache-Control': 'immutable with the current ?v=, else no-cache' } },
      304: { description: 'If-None-Match named the current ETag.' },
    },
  };
}

const demoOff = 'With NODE_ENV=production it answers 404 unless INBOX_DEMO=true.';

export const clientOperations: Operation[] = [
  clientScript(
    CLIENT_PATH,
    'clientScript',
    'The JavaScript client',
    'An ES module exporting `HeraldClient` (browsers and Node ≥ 20, no dependencies): the inbox over HTTP, live events over the WebSocket, ' +
      'reconnect with `?since=`, HTTP polling where WebSockets are blocked. `import { HeraldClient } from "<api>/client/herald-client.js"`.',
  ),
  clientScript(
    INBOX_PATH,
    'inboxWidgetScript',
    'The inbox web component',
    'An ES module that defines `<herald-inbox api-url ws-url token locale>` (a bell with the unseen count and a panel with the inbox: tabs, ' +
      'infinite scroll, read, archive, snooze, actions, preferences, toasts; `zh-CN` and `en`; themed by `--herald-*` CSS custom properties) ' +
      'and exports `HeraldInbox` and everything the client script exports. `<script type="module" src="<api>/client/herald-inbox.js">`.',
  ),
  {
    method: 'get',
    path: DEMO_PATH,
    operationId: 'inboxDemoPage',
    summary: 'The inbox demo page',
    description:
      'A page hosting `<herald-inbox>`, connected to this api and the realtime node (INBOX_DEMO_WS_URL, else this host on WS_PORT). ' +
      'Outside production it takes the user token from `?token=`; in production it asks for it in a form. ' +
      `Served with a Content-Security-Policy that allows scripts from 'self' only. ${demoOff}`,
    tag: 'Clients',
    access: { kind: 'open' },
    query: {
      schema: z.object({ token: z.string().optional(), locale: z.enum(['en', 'zh-CN']).optional() }),
      notes: { token: 'a user token (ignored with NODE_ENV=production)', locale: "the widget's language (default: the browser's)" },
    },
    responses: {
      200: { description: 'The page.', media: 'text/html', headers: { 'Content-Security-Policy': "script-src 'self', no inline script" } },
    },
    problems: [404],
  },
  {
    method: 'get',
    path: DEMO_SCRIPT_PATH,
    operationId: 'inboxDemoScript',
    summary: "The inbox demo page's script",
    description: `Loads the widget, drops \`?token=\` from the address bar and hands a pasted token to the element. ${demoOff}`,
    tag: 'Clients',
    access: { kind: 'open' },
    responses: { 200: { description: 'The ES module.', media: 'text/javascript' } },
    problems: [404],
  },
];
