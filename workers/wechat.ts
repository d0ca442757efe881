/** Process entry: the wechat delivery worker. */
import { runChannelWorker } from './channel-main.js';

await runChannelWorker('wechat');
