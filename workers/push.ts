/** Process entry: the push delivery worker. */
import { runChannelWorker } from './channel-main.js';

await runChannelWorker('push');
