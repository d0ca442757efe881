import { Migration } from '@mikro-orm/migrations';

/**
 * Notification templates. A row belongs to a tenant, or to '*' (the system
 * templates every tenant sees until it changes or deletes its own copy; see
 * src/domain/templates.ts). Updates bump `version`; a notification stores the
 * text it was rendered with and the version, so a send in flight never
 * changes under it.
 *
 * Ships the 智链OS API's eight templates (智链OS) with their Chinese texts and
 * channels: that API's documents give order_confirmed and inventory_low in full; the other
 * six follow the same style and the 智链OS API's table of titles and channels
 * ("APP" is mobile push, "System" the in-app inbox).
 */
interface Seed {
  name: string;
  description: string;
  title: string;
  content: string;
  type: string;
  priority: string;
  channels: string[];
  channel_overrides: Record<string, Record<string, string>>;
  variables: string[];
}

const emailHtml = (body: string) =>
  `<div style="font-family:sans-serif;font-size:14px;line-height:1.6"><h2 style="margin:0 0 12px">{title}</h2>${body}<p style="color:#888;font-size:12px">智链OS 通知中心</p></div>`;

export const SEED_TEMPLATES: Seed[] = [
  {
    name: 'order_confirmed',
    description: '订单确认后',
    title: '订单确认',
    content: '您的订单 {order_id} 已确认，预计 {estimated_time} 送达。',
    type: 'success',
    priority: 'normal',
    channels: ['sms', 'push'],
    channel_overrides: {},
    variables: ['order_id', 'estimated_time'],
  },
  {
    name: 'order_ready',
    description: '订单完成后',
    title: '订单已完成',
    content: '您的订单 {order_id} 已完成，请凭取餐号 {pickup_code} 取餐。',
    type: 'success',
    priority: 'normal',
    channels: ['sms', 'push'],
    channel_overrides: {},
    variables: ['order_id', 'pickup_code'],
  },
  {
    name: 'inventory_low',
    description: '库存低于安全线',
    title: '库存预警',
    content: '商品 {item_name} 库存不足，当前库存: {current_stock}，请及时补货。',
    type: 'warning',
    priority: 'high',
    channels: ['email', 'app'],
    channel_overrides: {
      email: {
        subject: '【库存预警】{item_name} 库存不足',
        html: emailHtml('<p>商品 <strong>{item_name}</strong> 库存不足，当前库存: <strong>{current_stock}</strong>，请及时补货。</p>'),
      },
    },
    variables: ['item_name', 'current_stock'],
  },
  {
    name: 'staff_schedule',
    description: '排班更新后',
    title: '排班通知',
    content: '您的排班已更新: {schedule_date} {shift_time}，门店: {store_name}，请准时到岗。',
    type: 'info',
    priority: 'normal',
    channels: ['sms', 'push'],
    channel_overrides: {},
    variables: ['schedule_date', 'shift_time', 'store_name'],
  },
  {
    name: 'payment_success',
    description: '支付完成后',
    title: '支付成功',
    content: '您已成功支付 {amount} 元，订单号: {order_id}，感谢您的惠顾。',
    type: 'success',
    priority: 'normal',
    channels: ['sms', 'wechat'],
    channel_overrides: {},
    variables: ['amount', 'order_id'],
  },
  {
    name: 'backup_completed',
    description: '备份成功后',
    title: '数据备份完成',
    content: '数据备份已完成，备份文件: {backup_file}，大小: {backup_size}，耗时: {duration}。',
    type: 'success',
    priority: 'low',
    channels: ['email', 'app'],
    channel_overrides: {
      email: {
        subject: '【数据备份完成】{backup_file}',
        html: emailHtml('<p>数据备份已完成。</p><ul><li>备份文件: {backup_file}</li><li>大小: {backup_size}</li><li>耗时: {duration}</li></ul>'),
      },
    },
    variables: ['backup_file', 'backup_size', 'duration'],
  },
  {
    name: 'backup_failed',
    description: '备份失败后',
    title: '数据备份失败',
    content: '数据备份失败，错误信息: {error_message}，请立即检查备份任务。',
    type: 'error',
    priority: 'high',
    channels: ['email', 'app'],
    channel_overrides: {
      email: {
        subject: '【数据备份失败】请立即检查',
        html: emailHtml('<p>数据备份失败，错误信息:</p><pre>{error_message}</pre><p>请立即检查备份任务。</p>'),
      },
    },
    variables: ['error_message'],
  },
  {
    name: 'system_alert',
    description: '系统异常时',
    title: '系统告警',
    content: '系统告警 [{alert_level}]: {alert_message}，请及时处理。',
    type: 'alert',
    priority: 'urgent',
    channels: ['email', 'sms', 'app'],
    channel_overrides: {
      email: {
        subject: '【系统告警】{alert_level}: {alert_message}',
        html: emailHtml('<p>级别: <strong>{alert_level}</strong></p><p>{alert_message}</p><p>请及时处理。</p>'),
      },
    },
    variables: ['alert_level', 'alert_message'],
  },
];

/** A SQL string literal (addSql takes no bind parameters). */
const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

export class Migration20261122020000_templates extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table templates (
        id uuid primary key default gen_random_uuid(),
        tenant text not null,
        name varchar(100) not null,
        description text,
        title varchar(200) not null,
        content text not null,
        type text not null default 'info',
        priority text not null default 'normal',
        channels text[] not null default '{app}',
        channel_overrides jsonb not null default '{}',
        variables text[] not null default '{}',
        is_active boolean not null default true,
        version integer not null default 1,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        deleted_at timestamptz
      );`);
    // One live template per name within a tenant; soft-deleted rows keep their history.
    this.addSql(`create unique index templates_tenant_name on templates (tenant, name) where deleted_at is null;`);
    this.addSql(`create index templates_lookup on templates (tenant, name, updated_at desc);`);
    for (const t of SEED_TEMPLATES) {
      const values = [
        lit(t.name),
        lit(t.description),
        lit(t.title),
        lit(t.content),
        lit(t.type),
        lit(t.priority),
        `${lit(`{${t.channels.join(',')}}`)}::text[]`,
        `${lit(JSON.stringify(t.channel_overrides))}::jsonb`,
        `${lit(`{${t.variables.join(',')}}`)}::text[]`,
      ];
      this.addSql(
        `insert into templates (tenant, name, description, title, content, type, priority, channels, channel_overrides, variables)
         values ('*', ${values.join(', ')});`,
      );
    }
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists templates;');
  }
}
