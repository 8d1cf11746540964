/**
 * The C library, opened through bun:ffi with the symbols a caller names: glibc's soname first,
 * then musl's (Alpine). Linux only; each caller keeps what it opened.
 */
import { dlopen, type FFIFunction } from "bun:ffi";

const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

/** The symbols of the first libc that loads; throws the last loader error when none does. */
export function dlopenLibc<Fns extends Record<string, FFIFunction>>(
  symbols: Fns,
): ReturnType<typeof dlopen<Fns>>["symbols"] {
  let lastError: unknown;
  for (const name of LIBC_NAMES) {
    try {
      return dlopen(name, symbols).symbols;
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`cannot load libc: ${String(lastError)}`);
}
