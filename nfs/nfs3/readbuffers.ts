/**
 * Reply buffers of READ, recycled. A 1 MiB READ filled into a fresh buffer paid for its page
 * faults on every call (a fresh mapping per reply, freed only when the collector ran): in a
 * micro-benchmark a 1 MiB pread into a fresh buffer took 530-860 us against 270-380 us into a
 * reused one. READ borrows one of these, the data path fills what is no view of a cached block
 * into it, the reply holds a view of it and the connection hands it back once the kernel has
 * the bytes (XdrWriter.whenSent).
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
import { SpareBuffers } from "../../src/vfs/spares.ts";

/** The VFS's recycled read buffers, sized for READ (rtmax). */
export class ReadBuffers extends SpareBuffers {
  constructor(pooledMax = NFS_READ_BUFFERS_POOLED, idleTrimMs?: number) {
    super(pooledMax, NFS_IO_BYTES_MAX, NFS_READ_BUFFER_BYTES_MIN, idleTrimMs);
  }

  /** A buffer for a read of `bytes`, or undefined when a fresh one is as cheap (small reads). */
  override take(bytes: number): Buffer | undefined {
    assert(bytes <= NFS_IO_BYTES_MAX, "READ count is cut to rtmax first");
    return super.take(bytes);
  }
}
