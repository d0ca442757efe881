/** Process entry: the email delivery worker. */
import { runChannelWorker } from './channel-main.js';

await runChannelWorker('email');
