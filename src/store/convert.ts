// Values read from either dialect, turned into one shape: timestamps as
// ISO-8601 UTC strings with milliseconds, booleans as booleans, JSON parsed,
// integers as numbers.

/** An instant as the store writes it: `2026-01-01T00:00:00.000Z`. */
export function isoOf(value: Date | string | number): string {
  return new Date(value).toISOString();
}

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

export function readTime(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return ISO_MS.test(value) ? value : new Date(value).toISOString();
  throw new TypeError(`expected a timestamp, got ${typeof value}`);
}

export function readOptionalTime(value: unknown): string | undefined {
  return value === null || value === undefined ? undefined : readTime(value);
}

export function readBoolean(value: unknown): boolean {
  return value === true || value === 1 || value === 1n || value === '1' || value === 't';
}

export function readInteger(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export function readOptionalInteger(value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : readInteger(value);
}

export function readJson<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

export function readOptionalString(value: string | null | undefined): string | undefined {
  return value === null || value === undefined ? undefined : value;
}
