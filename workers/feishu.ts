/** Process entry: the feishu delivery worker. */
import { runChannelWorker } from './channel-main.js';

await runChannelWorker('feishu');
