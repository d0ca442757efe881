import { z } from 'zod';
import { CLIENT_PATH } from '../../routes/client.js';
import type { Operation } from '../operation.js';

export const clientOperations: Operation[] = [
  {
    method: 'get',
    path: CLIENT_PATH,
    operationId: 'clientScript',
    summary: 'The JavaScript client',
    description:
      'An ES module exporting `HeraldClient` (browsers and Node ≥ 20, no dependencies): the inbox over HTTP, live events over the WebSocket, ' +
      'reconnect with `?since=`, HTTP polling where WebSockets are blocked. `import { HeraldClient } from "<api>/client/herald-client.js"`.',
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
  },
];
