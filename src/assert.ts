/**
 * Invariant checks for core code. A failed assertion is a bug in jfs, never bad input:
 * bad input and I/O failures are reported as FsError / UserError instead.
 */
export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Inodes, offsets and sizes are numbers in the core; they must stay exact integers. */
export function assertSafeUint(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new AssertionError(`${what} must be a safe unsigned integer, got ${value}`);
  }
}

export function unreachable(value: never): never {
  throw new AssertionError(`unreachable: ${String(value)}`);
}
