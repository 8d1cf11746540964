/**
 * Reply buffers of READ, recycled. A 1 MiB READ filled into a fresh buffer paid for its page
 * faults on every call (a fresh mapping per reply, freed only when the collector ran): in a
 * micro-benchmark a 1 MiB pread into a fresh buffer took 530-860 us against 270-380 us into a
 * reused one. READ borrows one of these, the data path fills it, the reply holds a view of it
 * and the connection hands it back once the kernel has the bytes (XdrWriter.whenSent).
 *
 * Pinned memory: a buffer is out while its reply waits for the socket, and replies waiting are
 * bounded by the RPC layer (per connection and by the server-wide held-bytes budget); the pool
 * keeps at most NFS_READ_BUFFERS_POOLED idle ones. A buffer whose read failed is not given
 * back: a piece of that read may still be copying into it.
 */
import { assert } from "../../src/assert.ts";
import {
  NFS_IO_BYTES_MAX,
  NFS_READ_BUFFER_BYTES_MIN,
  NFS_READ_BUFFERS_POOLED,
} from "../../src/limits.ts";

export class ReadBuffers {
  private readonly idle: Buffer[] = [];

  constructor(private readonly pooledMax = NFS_READ_BUFFERS_POOLED) {}

  /** A buffer for a read of `bytes`, or undefined when a fresh one is as cheap (small reads). */
  take(bytes: number): Buffer | undefined {
    assert(bytes <= NFS_IO_BYTES_MAX, "READ count is cut to rtmax first");
    if (bytes < NFS_READ_BUFFER_BYTES_MIN) return undefined;
    return this.idle.pop() ?? Buffer.allocUnsafe(NFS_IO_BYTES_MAX);
  }

  /** Takes back a buffer from take() once nothing reads or writes it any more. */
  give(buffer: Buffer): void {
    assert(buffer.length === NFS_IO_BYTES_MAX && !this.idle.includes(buffer), "not one of ours");
    if (this.idle.length < this.pooledMax) this.idle.push(buffer);
  }

  get idleCount(): number {
    return this.idle.length;
  }
}
