/** A snooze of one hour from `now`. */
export const inAnHour = (now = new Date()): Date => new Date(now.getTime() + 3_600_000);

/** 09:00 tomorrow in the browser's own time zone. */
export function tomorrowMorning(now = new Date()): Date {
  const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 9, 0, 0, 0);
  return d;
}

/** An `<input type=datetime-local>` value (local wall time, no zone) as the instant it means here, or null. */
export function fromLocalInput(value: string): Date | null {
  if (!value) return null;
  const d = new Date(value); // a zone-less date-time string is local time
  return Number.isNaN(d.getTime()) ? null : d;
}

/** An instant as an `<input type=datetime-local>` value, to the minute. */
export function toLocalInput(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
