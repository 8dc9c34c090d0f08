// Go-style durations ("1h30m", "168h"), the format of metav1.Duration and of CEL's duration().
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/gy;

export class DurationFormatError extends Error {
  constructor(readonly input: string) {
    super(`"${input}" is not a duration; write it like 24h, 90m or 1h30m`);
    this.name = 'DurationFormatError';
  }
}

/** Parses a Go-style duration into milliseconds; throws DurationFormatError if it is not one. */
export function parseDuration(input: string): number {
  if (input.length === 0) throw new DurationFormatError(input);
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let match = PART.exec(input); match !== null; match = PART.exec(input)) {
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
    consumed = PART.lastIndex;
  }
  if (consumed !== input.length) throw new DurationFormatError(input);
  return total;
}

/** Returns milliseconds, or undefined when the text is not a duration (no throw, for rules). */
export function tryParseDuration(input: string | undefined): number | undefined {
  if (input === undefined) return undefined;
  try {
    return parseDuration(input);
  } catch {
    return undefined;
  }
}

/** Formats milliseconds for people: "7d", "36h", "90m", "45s". */
export function formatDuration(ms: number): string {
  const day = 86_400_000;
  if (ms % day === 0 && ms >= day) return `${ms / day}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

const HOUR_MS = 3_600_000;
const WEEK_MS = 168 * HOUR_MS;
const MONTH_MS = 720 * HOUR_MS;
const YEAR_MS = 8760 * HOUR_MS;
const LEAP_YEAR_MS = 8784 * HOUR_MS;

/** `start` plus whole calendar months in UTC; a day the target month lacks is its last day (31 January + 1 month = 28/29 February). */
function addCalendarMonths(start: Date, months: number): Date {
  const year = start.getUTCFullYear();
  const month = start.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const out = new Date(start.getTime());
  out.setUTCFullYear(year, month, Math.min(start.getUTCDate(), lastDay));
  return out;
}

/**
 * The latest end a limit allows from `start`. The seed's periods are calendar
 * periods (support access for "a week, a month, a year"): a limit of 720h is a
 * calendar month (1 January to 1 February), 8760h or 8784h a calendar year,
 * 168h a week; never less than the limit's hours. Other limits are exact.
 */
export function limitEnd(start: Date, limitMs: number): Date {
  const exact = new Date(start.getTime() + limitMs);
  let calendar: Date | undefined;
  if (limitMs === WEEK_MS) calendar = exact;
  else if (limitMs === MONTH_MS) calendar = addCalendarMonths(start, 1);
  else if (limitMs === YEAR_MS || limitMs === LEAP_YEAR_MS) calendar = addCalendarMonths(start, 12);
  return calendar !== undefined && calendar > exact ? calendar : exact;
}

/** "a calendar month (720h)": how a limit reads in messages. */
export function describeLimit(limitMs: number): string {
  if (limitMs === WEEK_MS) return 'a week (168h)';
  if (limitMs === MONTH_MS) return 'a calendar month (720h)';
  if (limitMs === YEAR_MS || limitMs === LEAP_YEAR_MS) return `a calendar year (${formatDuration(limitMs)})`;
  return formatDuration(limitMs);
}
