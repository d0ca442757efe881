import { Notification } from './notification.js';
import { Receipt } from './receipt.js';
import { Delivery } from './delivery.js';
import { Recipient } from './recipient.js';
import { Ack } from './ack.js';

/** Every entity MikroORM knows; add new ones here. */
export const entities = [Notification, Receipt, Recipient, Delivery, Ack];
