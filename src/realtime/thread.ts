/**
 * Worker-thread entry of a realtime process with WS_THREADS > 1 (started by
 * src/realtime/threads.ts): one whole node in this thread, on the port the
 * parent names. Messages:
 *   → parent { type: 'listening' } once the node serves
 *   ← { type: 'stop' }  closes the node (1001 to its sockets) and ends the thread
 *   ← { type: 'gc' }    → { type: 'gc', heapUsed } (src/worker-thread.ts: bench/realtime
 *                       reads the node's memory after full GCs)
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfigOrExit } from '../config.js';
import { Lifecycle } from '../lifecycle.js';
import { createLogger } from '../logger.js';
import { startMetricsReporting } from '../metrics/report.js';
import { answerGcRequests } from '../worker-thread.js';
import { runRealtimeNode } from './run.js';

export interface ThreadData {
  /** the thread's place, 0-based; thread 0 reports the process-wide metrics */
  index: number;
  port: number;
}

const { index, port } = workerData as ThreadData;
const config = { ...loadConfigOrExit(), WS_PORT: port };
const logger = createLogger(config, 'realtime').child({ thread: index });
const life = new Lifecycle(logger);
await runRealtimeNode(config, logger, life);
startMetricsReporting(config, logger, life, 'realtime', index === 0);

parentPort!.on('message', (msg: { type?: string }) => {
  if (msg?.type !== 'stop') return;
  void life
    .close()
    .then(() => life.flushLogs())
    .finally(() => process.exit(0)); // in a worker this ends the thread, not the process
});
answerGcRequests();
parentPort!.postMessage({ type: 'listening' });
