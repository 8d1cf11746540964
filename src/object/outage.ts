/**
 * Saying that the object store is down while it is down. Remote stores retry each call for a
 * long time (retry.ts: up to OBJECT_RETRIES_MAX attempts of up to OBJECT_REQUEST_TIMEOUT_MS),
 * and the caller (an fsync, a COMMIT, a shutdown) waits in silence meanwhile. Every remote call
 * registers here while it runs; while some call has failed and is being retried, or has waited
 * longer than OBJECT_OUTAGE_LOG_MS for an answer, one line every OBJECT_OUTAGE_LOG_MS says what
 * is waiting:
 *
 *   object store http://h:9000/b/ not answering: retrying PUT vol/chunks/0/0/9_0_65536
 *     (attempt 4, 12 s; 3 requests waiting; last error: ...)
 *
 * and when the last troubled call is answered, one line says the store answers again. The
 * lines are per interval, never per call or per retry. One tracker per process (`outages`),
 * so a shutdown can say what it still waits for.
 */
import { describeError } from "../errors.ts";
import { OBJECT_OUTAGE_LOG_MS } from "../limits.ts";
import { log } from "../log.ts";

export interface StoreCall {
  /** The store's description (never holds secrets). */
  store: string;
  /** e.g. "PUT", "GET". */
  operation: string;
  key: string | undefined;
  startedAtMs: number;
  attempts: number;
  lastError: string | undefined;
}

export class OutageTracker {
  readonly #calls = new Set<StoreCall>();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** When the outage being reported started; undefined while none is. */
  #reportedSinceMs: number | undefined;

  constructor(
    private readonly write: (level: "warn" | "info", line: string) => void = (level, line) =>
      log[level](line),
    private readonly intervalMs = OBJECT_OUTAGE_LOG_MS,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** A call starts its first attempt. */
  begin(store: string, operation: string, key: string | undefined): StoreCall {
    const call = {
      store,
      operation,
      key,
      startedAtMs: this.nowMs(),
      attempts: 1,
      lastError: undefined,
    };
    this.#calls.add(call);
    this.#timer ??= setInterval(() => this.#tick(), this.intervalMs);
    this.#timer.unref?.();
    return call;
  }

  /** An attempt of `call` failed with a transient error; another follows. */
  failed(call: StoreCall, error: unknown): void {
    call.attempts++;
    call.lastError = describeError(error);
  }

  /** The call is over: answered, or given up (its caller reports that failure). */
  end(call: StoreCall, answered: boolean): void {
    this.#calls.delete(call);
    if (this.#reportedSinceMs !== undefined && this.#troubled().length === 0) {
      const seconds = Math.round((this.nowMs() - this.#reportedSinceMs) / 1000);
      this.#reportedSinceMs = undefined;
      if (answered) {
        this.write("info", `object store ${call.store} answering again (after ${seconds} s)`);
      }
    }
    if (this.#calls.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /**
   * What troubled calls wait for, e.g. "retrying PUT vol/chunks/... (attempt 4, 12 s; 3
   * requests waiting)", or undefined when every call in flight is doing fine.
   */
  describe(): string | undefined {
    const troubled = this.#troubled();
    const oldest = troubled[0];
    if (oldest === undefined) return undefined;
    const seconds = Math.round((this.nowMs() - oldest.startedAtMs) / 1000);
    const what = `${oldest.operation}${oldest.key === undefined ? "" : ` ${oldest.key}`}`;
    const verb =
      oldest.attempts > 1
        ? `retrying ${what} (attempt ${oldest.attempts}, `
        : `waiting for ${what} (`;
    // Every call in flight waits for the same store, troubled yet or not.
    const n = this.#calls.size;
    const waiting = n === 1 ? "1 request waiting" : `${n} requests waiting`;
    const last = oldest.lastError === undefined ? "" : `; last error: ${oldest.lastError}`;
    return `${verb}${seconds} s; ${waiting}${last})`;
  }

  /** Since when some call has been in trouble without a break; undefined when none is. */
  troubledSinceMs(): number | undefined {
    return this.#troubled()[0]?.startedAtMs;
  }

  /** Calls that failed at least once or have waited an interval, oldest first. */
  #troubled(): StoreCall[] {
    const now = this.nowMs();
    const troubled: StoreCall[] = [];
    for (const call of this.#calls) {
      if (call.attempts > 1 || now - call.startedAtMs >= this.intervalMs) troubled.push(call);
    }
    return troubled; // a Set iterates in insertion order: oldest first
  }

  #tick(): void {
    const text = this.describe();
    const oldest = this.#troubled()[0];
    if (text === undefined || oldest === undefined) return;
    this.#reportedSinceMs ??= oldest.startedAtMs;
    this.write("warn", `object store ${oldest.store} not answering: ${text}`);
  }
}

/** The process's tracker: every remote store reports to it. */
export const outages = new OutageTracker();
