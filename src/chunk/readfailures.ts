/**
 * Logging failed object reads: the read itself fails with EIO (the front ends answer
 * NFS3ERR_IO / -EIO and log nothing more), and this says once which object failed and why,
 * in one line, without a stack. A client retrying the same read, or reading many blocks of a
 * dead store, must not flood the log: each object is logged at most once per
 * OBJECT_READ_FAILURE_LOG_MS, and at most OBJECT_READ_FAILURE_LINES_MAX lines go out per
 * OBJECT_OUTAGE_LOG_MS; the lines left out are counted in the next one.
 */
import { describeError } from "../errors.ts";
import {
  OBJECT_OUTAGE_LOG_MS,
  OBJECT_READ_FAILURE_KEYS_MAX,
  OBJECT_READ_FAILURE_LINES_MAX,
  OBJECT_READ_FAILURE_LOG_MS,
} from "../limits.ts";
import { log } from "../log.ts";

export class ReadFailureLog {
  /** Key -> when its failure was last logged (insertion order: oldest first). */
  readonly #loggedAtMs = new Map<string, number>();
  #windowStartMs = 0;
  #linesInWindow = 0;
  #suppressed = 0;

  /** `where` names the store (its description ends where the key starts). */
  constructor(
    private readonly where: string,
    private readonly write: (line: string) => void = (line) => log.error(line),
    private readonly nowMs: () => number = Date.now,
  ) {}

  report(key: string, error: unknown): void {
    const now = this.nowMs();
    const last = this.#loggedAtMs.get(key);
    if (last !== undefined && now - last < OBJECT_READ_FAILURE_LOG_MS) return;
    if (now - this.#windowStartMs >= OBJECT_OUTAGE_LOG_MS) {
      this.#windowStartMs = now;
      this.#linesInWindow = 0;
    }
    if (this.#linesInWindow >= OBJECT_READ_FAILURE_LINES_MAX) {
      this.#suppressed++;
      return;
    }
    this.#linesInWindow++;
    this.#loggedAtMs.delete(key);
    this.#loggedAtMs.set(key, now);
    if (this.#loggedAtMs.size > OBJECT_READ_FAILURE_KEYS_MAX) {
      const oldest = this.#loggedAtMs.keys().next();
      if (oldest.done !== true) this.#loggedAtMs.delete(oldest.value);
    }
    const more = this.#suppressed > 0 ? ` (and ${this.#suppressed} more failed reads)` : "";
    this.#suppressed = 0;
    this.write(
      `cannot read object ${this.where}${key}: ${describeError(error)}; the read fails with EIO${more}`,
    );
  }
}
