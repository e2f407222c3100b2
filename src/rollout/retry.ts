// Pure retry policy for the writes that put traffic back on stable: transient API errors (5xx,
// timeouts, connection resets) are retried with backoff for a bounded time; anything else is final.

/** An error worth retrying: the API server or the connection to it, not our request. */
export function isTransient(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  return /\b(50[0-9]|429)\b|InternalError|ServiceUnavailable|Service Unavailable|Too ?Many ?Requests|timed? ?out|timeout|ETIMEDOUT|ECONNRESET|ECONNREFUSED|connection refused|connection reset|unexpected EOF|TLS handshake|etcdserver/i.test(
    m,
  );
}

export interface RetryOptions {
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  onRetry?: (err: unknown, attempt: number) => void;
}

/** Calls `fn` until it succeeds, a non-retryable error, or `budgetMs` is spent (backoff 200 ms … 5 s). */
export async function retryFor<T>(
  budgetMs: number,
  retryable: (err: unknown) => boolean,
  fn: () => Promise<T>,
  o: RetryOptions = {},
): Promise<T> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + budgetMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const wait = Math.min(5000, 200 * 2 ** (attempt - 1));
      if (!retryable(err) || now() + wait > deadline) throw err;
      o.onRetry?.(err, attempt);
      await sleep(wait);
    }
  }
}
