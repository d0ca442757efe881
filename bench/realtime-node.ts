/**
 * bench/realtime's realtime node: the same node as src/realtime/server.ts
 * (WS_THREADS threads), forked with --expose-gc and an IPC hook so the bench
 * can read the node's memory after a full garbage collection in every thread
 * (RSS right after a connect storm is mostly garbage V8 has not collected yet).
 *   { cmd: 'mem' } → process.memoryUsage() after two full GCs
 */
import { loadConfigOrExit } from '../src/config.js';
import { Lifecycle } from '../src/lifecycle.js';
import { createLogger } from '../src/logger.js';
import { runRealtimeNode } from '../src/realtime/run.js';
import { runRealtimeThreads } from '../src/realtime/threads.js';
import { gcWorkers } from '../src/worker-thread.js';
import { onMemoryRequest } from './lib/memory.js';

const config = loadConfigOrExit();
const logger = createLogger(config, 'realtime');
const life = new Lifecycle(logger);
life.handleSignals();
if (config.WS_THREADS > 1) {
  const threads = await runRealtimeThreads(config.WS_THREADS, config.WS_PORT, logger, life);
  onMemoryRequest(() => gcWorkers(threads.workers));
} else {
  await runRealtimeNode(config, logger, life);
  onMemoryRequest();
}
