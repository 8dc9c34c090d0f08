// The one reader of instants in specs and on the command line: RFC 3339 as
// metav1.Time writes it (Go's time.RFC3339). The schema's date-time format, the
// rules, the planner and `--at` all use it, so a time one of them accepts the
// others accept too. Refused: a missing offset or seconds, "+05" for "+05:00",
// a space for "T", a day the calendar lacks (2027-02-30), a leap second
// (23:59:60: Go refuses it too), hour 24.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** The instant an RFC 3339 text names, or undefined when it is not one. */
export function parseInstant(text: unknown): Date | undefined {
  if (typeof text !== 'string') return undefined;
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return undefined;
  const ms = Date.parse(text.toUpperCase());
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** Milliseconds since the epoch, or NaN when the text is not an RFC 3339 instant (for comparisons). */
export function instantMs(text: string | undefined): number {
  return parseInstant(text)?.getTime() ?? Number.NaN;
}

export const INSTANT_HINT = 'write an RFC 3339 time with seconds and an offset, like 2027-06-30T23:59:59Z or 2027-06-30T18:00:00+05:00';
