import { Notification } from './notification.js';
import { Receipt } from './receipt.js';

/** Every entity MikroORM knows; add new ones here. */
export const entities = [Notification, Receipt];
