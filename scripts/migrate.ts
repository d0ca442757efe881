/** `npm run migrate`: creates the database if missing and runs pending migrations (the api also does this at start). */
import { loadConfigOrExit } from '../src/config.js';
import { migrate } from '../src/db/orm.js';
import { createLogger } from '../src/logger.js';

const config = loadConfigOrExit();
await migrate({ url: config.DATABASE_URL, logger: createLogger(config, 'migrate') });
console.log('migrations are current');
