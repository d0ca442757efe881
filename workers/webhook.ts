/** Process entry: the webhook delivery worker. */
import { runChannelWorker } from './channel-main.js';

await runChannelWorker('webhook');
