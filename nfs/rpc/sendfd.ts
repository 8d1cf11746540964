/**
 * A second descriptor for a connection's socket (dup(2), through bun:ffi), for writes done on
 * Bun's I/O thread pool. Bun closes its own descriptor when the peer goes, whenever its event
 * loop sees that; a pool thread writing through that number could then write into whatever
 * file was opened under it next. A dup stays ours until we close it, after the last write
 * through it has returned, so it can only ever name this socket.
 *
 * Linux only (the libc of src/libc.ts); elsewhere, or without a libc to call, there is none and
 * the connection writes on the event loop.
 */

import { type dlopen, FFIType } from "bun:ffi";
import { closeSync } from "node:fs";
import { dlopenLibc } from "../../src/libc.ts";

const symbols = { dup: { args: [FFIType.i32], returns: FFIType.i32 } } as const;

/** undefined: not tried yet; null: not available here. */
let calls: ReturnType<typeof dlopen<typeof symbols>>["symbols"] | null | undefined;

/** A new descriptor for the socket `fd` names, or undefined where dup is not available. */
export function dupSocketFd(fd: number): number | undefined {
  if (calls === undefined) {
    calls = null;
    if (process.platform === "linux" && process.env.JFS_NO_POOL_SEND !== "1") {
      try {
        calls = dlopenLibc(symbols);
      } catch {
        // no libc to call: writes stay on the event loop
      }
    }
  }
  if (calls === null || fd < 0) return undefined;
  const copy = calls.dup(fd);
  return copy >= 0 ? copy : undefined;
}

export function closeSocketFd(fd: number): void {
  closeSync(fd);
}
