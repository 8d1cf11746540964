/**
 * The retry policy of remote object stores: every attempt has a deadline, transient failures are
 * retried after a jittered exponential backoff, and the number of retries is bounded. Object
 * store calls are idempotent, so any attempt may be repeated.
 */
import { assert, assertSafeUint } from "../assert.ts";

export interface RetryPolicy {
  /** Deadline of one attempt, including reading the response body. */
  requestTimeoutMs: number;
  /** Retries after the first attempt; 0 means one attempt. */
  retriesMax: number;
  /** The first backoff is uniform in [0, base); each retry doubles the window up to max. */
  backoffMsBase: number;
  backoffMsMax: number;
}

/** Thrown into an attempt when its deadline passes; always transient. */
export class AttemptTimeoutError extends Error {
  override name = "AttemptTimeoutError";
}

/** A transient failure noticed by jfs itself, e.g. a body shorter than its Content-Length. */
export class TransientError extends Error {
  override name = "TransientError";
}

export function assertRetryPolicy(policy: RetryPolicy): void {
  assert(policy.requestTimeoutMs > 0, "requestTimeoutMs must be positive");
  assertSafeUint(policy.retriesMax, "retriesMax");
  assertSafeUint(policy.backoffMsBase, "backoffMsBase");
  assert(policy.backoffMsBase <= policy.backoffMsMax, "backoffMsBase must not exceed backoffMsMax");
}

/** Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): spreads out herds. */
export function backoffMs(policy: RetryPolicy, retry: number): number {
  const windowMs = Math.min(policy.backoffMsMax, policy.backoffMsBase * 2 ** Math.min(retry, 30));
  return Math.floor(Math.random() * windowMs);
}

/**
 * Runs `attempt` until it succeeds, fails with an error `isTransient` rejects, or the retries are
 * spent; throws `giveUp(lastError, attempts)` then. An attempt past its deadline has its signal
 * aborted and is abandoned even if it ignores the signal.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  attempt: (signal: AbortSignal) => Promise<T>,
  isTransient: (error: unknown) => boolean,
  giveUp: (error: unknown, attempts: number) => Error,
  /** Sees every failed attempt (its own deadline's AttemptTimeoutError included). */
  onFailure?: (error: unknown) => void,
): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await withDeadline(policy.requestTimeoutMs, attempt);
    } catch (error: unknown) {
      onFailure?.(error);
      const transient = error instanceof AttemptTimeoutError || isTransient(error);
      if (!transient || retry >= policy.retriesMax) throw giveUp(error, retry + 1);
    }
    await Bun.sleep(backoffMs(policy, retry));
  }
}

async function withDeadline<T>(
  timeoutMs: number,
  attempt: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new AttemptTimeoutError(`no answer within ${timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  const running = attempt(controller.signal);
  // The loser of the race must not become an unhandled rejection.
  running.catch(() => {});
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
  }
}
