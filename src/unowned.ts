import { UNOWNED_GC_NUDGE_BYTES } from "./limits.ts";

let unownedBytes = 0;

/**
 * A buffer that leaves the data path (a read's reply, an object body with its checksum
 * trailer), so only the garbage collector can free it. The collector paces itself by the JS heap, which such buffers barely touch: left alone,
 * dead replies pile up (RSS) and each new one lands in freshly mapped memory, where page faults
 * made copying into it several times slower than into reused memory. So every
 * UNOWNED_GC_NUDGE_BYTES handed out, a cheap young-generation collection is asked for (it costs
 * well under a millisecond, where the faults it saves cost tens of milliseconds per 32 MiB).
 */
export function allocUnowned(bytes: number): Buffer {
  unownedBytes += bytes;
  if (unownedBytes >= UNOWNED_GC_NUDGE_BYTES) {
    unownedBytes = 0;
    Bun.gc(false);
  }
  return Buffer.allocUnsafe(bytes);
}
