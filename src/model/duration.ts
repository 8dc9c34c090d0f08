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
