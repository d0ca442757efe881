import { z } from 'zod';

/**
 * Strict RFC 3339 times (`2026-12-01T09:00:00+08:00`, seconds and a
 * fraction of up to nine digits optional, `Z` or an offset required).
 *
 * Date.parse is not a validator: it rolls `2099-02-30` over to March 2 and
 * takes `24:00`, so a time is accepted only when every field is in range
 * for its calendar (month 1–12, a day that month has, leap years counted,
 * hour < 24, minute and second < 60, offset within ±23:59), and the
 * instant falls within the four-digit years in UTC.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** The instants a four-digit year can name in UTC: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z. */
const FIRST = -62167219200000;
const LAST = 253402300799999;

const isLeap = (y: number) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const daysIn = (y: number, m: number) => (m === 2 && isLeap(y) ? 29 : DAYS[m - 1]);

/** The instant `s` names, or null when it is not a strict RFC 3339 time with an offset. */
export function parseRfc3339(s: string): Date | null {
  const m = RFC3339.exec(s);
  if (!m) return null;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number);
  const second = m[6] ? Number(m[6]) : 0;
  const ms = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
  const offHours = m[9] ? Number(m[10]) : 0;
  const offMinutes = m[9] ? Number(m[11]) : 0;
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59 || offHours > 23 || offMinutes > 59) return null;
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0–99 as 1900–1999
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  const offset = (m[9] === '-' ? -1 : 1) * (offHours * 60 + offMinutes) * 60_000;
  const t = d.getTime() - offset;
  // an offset can carry 9999-12-31 into year 10000, which PostgreSQL's date parser refuses
  return t >= FIRST && t <= LAST ? new Date(t) : null;
}

export const isRfc3339 = (s: string) => parseRfc3339(s) !== null;

/** A zod string that must be a strict RFC 3339 time with an offset. */
export const rfc3339Time = (message = 'must be an RFC 3339 time with an offset, e.g. 2026-12-01T09:00:00+08:00') =>
  z.string().meta({ format: 'date-time' }).refine(isRfc3339, message);
