/**
 * Every metric jfs exports, in one process-wide registry, and the one-line hooks the layers call
 * (front ends, meta transactions, object requests, caches). The hooks only add to numbers: they
 * never throw, never await, and cost tens of nanoseconds (see registry.ts), so they stay on
 * whether or not anything scrapes. State that already exists (a cache's used bytes, the write
 * buffer, sessions) is read at scrape time by collectors the serving command registers
 * (src/metrics/runtime.ts).
 *
 * Names follow Prometheus conventions: base units (seconds, bytes), counters end in _total,
 * and a histogram's _count is the operation count.
 */
import {
  CounterFamily,
  GaugeFamily,
  type Histogram,
  HistogramFamily,
  LATENCY_BUCKETS_SEC,
  Registry,
} from "./registry.ts";

export const registry = new Registry();

/**
 * A FUSE mount answers its metrics address ("127.0.0.1:9567") as this xattr of its root, so
 * `jfs stats DIR` finds it whatever port the mount ended up on. Virtual: never stored or listed.
 */
export const METRICS_XATTR = "user.jfs.metrics";

/** The front ends: FUSE opcodes, NFS/MOUNT procedures, S3 gateway operations. */
export type FrontEnd = "fuse" | "nfs" | "gateway";

const frontEndOps: Record<FrontEnd, HistogramFamily> = {
  fuse: registry.add(
    new HistogramFamily(
      "jfs_fuse_op_duration_seconds",
      "FUSE requests by opcode: count and time from receipt to reply",
      ["op"],
      LATENCY_BUCKETS_SEC,
    ),
  ),
  nfs: registry.add(
    new HistogramFamily(
      "jfs_nfs_op_duration_seconds",
      "NFS, MOUNT and PORTMAP calls by procedure: count and time from decode to reply",
      ["op"],
      LATENCY_BUCKETS_SEC,
    ),
  ),
  gateway: registry.add(
    new HistogramFamily(
      "jfs_gateway_op_duration_seconds",
      "S3 gateway requests by operation: count and time to the response",
      ["op"],
      LATENCY_BUCKETS_SEC,
    ),
  ),
};

const frontEndErrors = registry.add(
  new CounterFamily("jfs_op_errors_total", "Front-end operations that failed, by layer and op", [
    "layer",
    "op",
  ]),
);

/** Hook: a front-end operation that started at `startMs` (performance.now()) has finished. */
export function opDone(layer: FrontEnd, op: string, startMs: number, failed = false): void {
  frontEndOps[layer].labels(op).observeSince(startMs);
  if (failed) frontEndErrors.labels(layer, op).inc();
}

const vfsByteCounters = {
  read: registry.add(
    new CounterFamily("jfs_read_bytes_total", "Bytes read by clients (FUSE, NFS and gateway)"),
  ),
  write: registry.add(
    new CounterFamily("jfs_written_bytes_total", "Bytes written by clients (FUSE, NFS, gateway)"),
  ),
};

/** Hook: the VFS read or wrote `bytes` for a client. */
export function vfsBytes(direction: "read" | "write", bytes: number): void {
  vfsByteCounters[direction].labels().inc(bytes);
}

const txnDuration = registry.add(
  new HistogramFamily(
    "jfs_meta_txn_duration_seconds",
    "Meta transactions by kind (read, write): count and time including retries",
    ["kind"],
    LATENCY_BUCKETS_SEC,
  ),
);
const txnRetries = registry.add(
  new CounterFamily(
    "jfs_meta_txn_retries_total",
    "Meta transaction attempts run again (conflict, busy database or lost connection)",
  ),
);
const txnConflicts = registry.add(
  new CounterFamily(
    "jfs_meta_txn_conflicts_total",
    "Meta transaction attempts that lost a race with another writer",
  ),
);

const txnKinds = { read: txnDuration.labels("read"), write: txnDuration.labels("write") };
const txnRetried1 = txnRetries.labels();
const txnConflicted1 = txnConflicts.labels();

/**
 * Hook: times one transaction (every attempt of it) of `kind`. Not an async wrapper: the
 * caller gets the engine's own promise, and the timing rides on it (every meta call pays this).
 */
export function timedTxn<T>(kind: "read" | "write", run: () => Promise<T>): Promise<T> {
  const startMs = performance.now();
  const histogram = txnKinds[kind];
  const done = () => histogram.observeSince(startMs);
  const pending = run();
  pending.then(done, done);
  return pending;
}

/** Hook: a transaction runs again; `conflict` when it lost a race (not an outage or busy lock). */
export function txnRetried(conflict: boolean): void {
  txnRetried1.inc();
  if (conflict) txnConflicted1.inc();
}

const objectDuration = registry.add(
  new HistogramFamily(
    "jfs_object_request_duration_seconds",
    "Object store requests by operation (get, put, delete, head, list): count and time",
    ["op"],
    LATENCY_BUCKETS_SEC,
  ),
);
const objectBytes = registry.add(
  new CounterFamily(
    "jfs_object_request_bytes_total",
    "Bytes sent (put) and received (get) by object store requests",
    ["op"],
  ),
);
const objectErrors = registry.add(
  new CounterFamily(
    "jfs_object_request_errors_total",
    "Object store requests that failed (a get of a missing key is not a failure)",
    ["op"],
  ),
);
const objectInFlight = registry.add(
  new GaugeFamily(
    "jfs_object_requests_in_flight",
    "Object store requests in flight by operation (put: uploads in flight)",
    ["op"],
  ),
);

export type ObjectOp = "get" | "put" | "delete" | "head" | "list";

/** Hook: an object request starts; call the result when it ends. */
export function objectRequest(op: ObjectOp): (bytes: number, failed: boolean) => void {
  const startMs = performance.now();
  const inFlight = objectInFlight.labels(op);
  inFlight.inc();
  return (bytes, failed) => {
    inFlight.dec();
    objectDuration.labels(op).observeSince(startMs);
    if (bytes > 0) objectBytes.labels(op).inc(bytes);
    if (failed) objectErrors.labels(op).inc();
  };
}

export type CacheName = "memory" | "disk";

const cacheHits = registry.add(
  new CounterFamily("jfs_cache_hits_total", "Block reads served by a cache", ["cache"]),
);
const cacheHitBytes = registry.add(
  new CounterFamily("jfs_cache_hit_bytes_total", "Bytes read from a cache", ["cache"]),
);
const cacheMisses = registry.add(
  new CounterFamily("jfs_cache_misses_total", "Block reads a cache could not serve", ["cache"]),
);
const cacheEvictions = registry.add(
  new CounterFamily("jfs_cache_evictions_total", "Blocks evicted to make room", ["cache"]),
);

/** Hook: a read of `bytes` was served by `cache`. */
export function cacheHit(cache: CacheName, bytes: number): void {
  cacheHits.labels(cache).inc();
  cacheHitBytes.labels(cache).inc(bytes);
}

export function cacheMiss(cache: CacheName): void {
  cacheMisses.labels(cache).inc();
}

export function cacheEvicted(cache: CacheName, blocks = 1): void {
  cacheEvictions.labels(cache).inc(blocks);
}

/** Read at scrape time (collectors in src/metrics/runtime.ts). */
export const gauges = {
  cacheUsedBytes: registry.add(
    new GaugeFamily("jfs_cache_used_bytes", "Bytes held by a cache", ["cache"]),
  ),
  cacheBlocks: registry.add(
    new GaugeFamily("jfs_cache_blocks", "Blocks held by a cache", ["cache"]),
  ),
  bufferUsedBytes: registry.add(
    new GaugeFamily("jfs_write_buffer_used_bytes", "Write buffer in use (of --buffer-size)"),
  ),
  bufferPooledBytes: registry.add(
    new GaugeFamily(
      "jfs_write_buffer_pooled_bytes",
      "Free write buffers kept for reuse (within --buffer-size, outside what is in use)",
    ),
  ),
  writebackStagedBytes: registry.add(
    new GaugeFamily(
      "jfs_writeback_staged_bytes",
      "Bytes staged in the cache directory by --writeback and not uploaded yet",
    ),
  ),
  writebackStagedBlocks: registry.add(
    new GaugeFamily("jfs_writeback_staged_blocks", "Blocks staged by --writeback, not uploaded"),
  ),
  sessions: registry.add(
    new GaugeFamily("jfs_sessions", "Live sessions (mounts and servers) of the volume"),
  ),
  uptimeSec: registry.add(
    new GaugeFamily("jfs_uptime_seconds", "Seconds since this process started"),
  ),
  residentBytes: registry.add(
    new GaugeFamily("process_resident_memory_bytes", "Resident memory of this process"),
  ),
  cpuSec: registry.add(
    new CounterFamily("process_cpu_seconds_total", "User and system CPU time of this process"),
  ),
};

export type { Histogram };
