/** The widget's words in each language it speaks; `en` is the fallback. */
const en = {
  bell: 'Notifications',
  unseen: (n: number) => `${n} new`,
  all: 'All',
  unread: 'Unread',
  archived: 'Archived',
  readAll: 'Mark all read',
  archiveAll: 'Archive all',
  archive: 'Archive',
  unarchive: 'Unarchive',
  snooze: 'Snooze',
  snoozeHour: 'For 1 hour',
  snoozeTomorrow: 'Tomorrow 09:00',
  snoozeAt: 'Until',
  set: 'Set',
  empty: 'Nothing here',
  loading: 'Loading…',
  failed: 'Could not load notifications',
  close: 'Close',
  newNotification: 'New notification',
  offline: 'Offline',
  polling: 'Polling',
  connecting: 'Connecting',
  preferences: 'Preferences',
  back: 'Back',
  save: 'Save',
  saved: 'Saved',
  channels: 'Channels per type',
  custom: 'Own setting',
  anyType: 'Every type',
  dnd: 'Do not disturb',
  from: 'From',
  to: 'To',
  timezone: 'Time zone',
  muteUntil: 'Mute until',
  types: { info: 'Info', success: 'Success', warning: 'Warning', error: 'Error', alert: 'Alert', system: 'System' } as Record<string, string>,
  channelNames: {
    app: 'In app', email: 'Email', sms: 'SMS', wechat: 'WeCom', feishu: 'Feishu', push: 'Push', webhook: 'Webhook',
  } as Record<string, string>,
};
export type Strings = typeof en;

const zhCN: Strings = {
  bell: '通知',
  unseen: (n) => `${n} 条新通知`,
  all: '全部',
  unread: '未读',
  archived: '已归档',
  readAll: '全部已读',
  archiveAll: '全部归档',
  archive: '归档',
  unarchive: '取消归档',
  snooze: '稍后提醒',
  snoozeHour: '1 小时后',
  snoozeTomorrow: '明天 09:00',
  snoozeAt: '指定时间',
  set: '确定',
  empty: '暂无通知',
  loading: '加载中…',
  failed: '通知加载失败',
  close: '关闭',
  newNotification: '新通知',
  offline: '离线',
  polling: '轮询中',
  connecting: '连接中',
  preferences: '通知设置',
  back: '返回',
  save: '保存',
  saved: '已保存',
  channels: '各类型的通知渠道',
  custom: '单独设置',
  anyType: '所有类型',
  dnd: '免打扰',
  from: '开始',
  to: '结束',
  timezone: '时区',
  muteUntil: '静音至',
  types: { info: '信息', success: '成功', warning: '警告', error: '错误', alert: '告警', system: '系统' },
  channelNames: { app: '站内', email: '邮件', sms: '短信', wechat: '企业微信', feishu: '飞书', push: '推送', webhook: 'Webhook' },
};

/** The language tags the widget speaks, as Intl spells them. */
export type WidgetLocale = 'en' | 'zh-CN';

/** The `locale` attribute if given, else the browser's language: any Chinese is zh-CN, anything else en. */
export function pickLocale(attr: string | null): WidgetLocale {
  const tag = attr || (typeof navigator === 'undefined' ? '' : navigator.language) || '';
  return /^zh/i.test(tag) ? 'zh-CN' : 'en';
}

export const stringsFor = (locale: WidgetLocale): Strings => (locale === 'zh-CN' ? zhCN : en);
