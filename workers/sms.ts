/** Process entry: the sms delivery worker. */
import { runChannelWorker } from './channel-main.js';

await runChannelWorker('sms');
