// Error text for people and logs. JSON.stringify(err) prints {}; this walks the cause chain.
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause !== undefined ? `: ${errorMessage(err.cause)}` : '';
    return `${err.message}${cause}`;
  }
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

/** An error in what the user asked for (bad flag, unreadable file): exit code 2, no stack trace. */
export class UsageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UsageError';
  }
}
