/**
 * What `jfs stats` shows: totals read from one scrape (Totals), and the rates between two
 * scrapes (Rates): operations per second and their mean latency per layer, throughput, cache
 * hit ratio. Pure functions of parsed expositions, so the view is testable without a terminal.
 */
import { type ParsedSample, sumOf } from "./parse.ts";

/** Count and summed seconds of a histogram (all label values together). */
interface Timed {
  count: number;
  sec: number;
}

export interface Totals {
  fuse: Timed;
  nfs: Timed;
  gateway: Timed;
  meta: Timed;
  metaRetries: number;
  object: Timed;
  objectGets: number;
  objectPuts: number;
  objectGetBytes: number;
  objectPutBytes: number;
  objectErrors: number;
  readBytes: number;
  writtenBytes: number;
  cacheHits: number;
  cacheMisses: number;
  cacheHitBytes: number;
  cpuSec: number;
  residentBytes: number;
  bufferUsedBytes: number;
  writebackStagedBytes: number;
  uploadsInFlight: number;
  cacheUsedBytes: number;
  sessions: number;
}

function timed(samples: readonly ParsedSample[], family: string): Timed {
  return { count: sumOf(samples, `${family}_count`), sec: sumOf(samples, `${family}_sum`) };
}

export function totalsOf(samples: readonly ParsedSample[]): Totals {
  const object = "jfs_object_request_duration_seconds";
  return {
    fuse: timed(samples, "jfs_fuse_op_duration_seconds"),
    nfs: timed(samples, "jfs_nfs_op_duration_seconds"),
    gateway: timed(samples, "jfs_gateway_op_duration_seconds"),
    meta: timed(samples, "jfs_meta_txn_duration_seconds"),
    metaRetries: sumOf(samples, "jfs_meta_txn_retries_total"),
    object: timed(samples, object),
    objectGets: sumOf(samples, `${object}_count`, { op: "get" }),
    objectPuts: sumOf(samples, `${object}_count`, { op: "put" }),
    objectGetBytes: sumOf(samples, "jfs_object_request_bytes_total", { op: "get" }),
    objectPutBytes: sumOf(samples, "jfs_object_request_bytes_total", { op: "put" }),
    objectErrors: sumOf(samples, "jfs_object_request_errors_total"),
    readBytes: sumOf(samples, "jfs_read_bytes_total"),
    writtenBytes: sumOf(samples, "jfs_written_bytes_total"),
    cacheHits: sumOf(samples, "jfs_cache_hits_total"),
    cacheMisses: sumOf(samples, "jfs_cache_misses_total"),
    cacheHitBytes: sumOf(samples, "jfs_cache_hit_bytes_total"),
    cpuSec: sumOf(samples, "process_cpu_seconds_total"),
    residentBytes: sumOf(samples, "process_resident_memory_bytes"),
    bufferUsedBytes: sumOf(samples, "jfs_write_buffer_used_bytes"),
    writebackStagedBytes: sumOf(samples, "jfs_writeback_staged_bytes"),
    uploadsInFlight: sumOf(samples, "jfs_object_requests_in_flight", { op: "put" }),
    cacheUsedBytes: sumOf(samples, "jfs_cache_used_bytes"),
    sessions: sumOf(samples, "jfs_sessions"),
  };
}

/** One layer's operations per second and their mean latency in ms (0 when idle). */
export interface LayerRate {
  opsPerSec: number;
  latencyMs: number;
}

export interface Rates {
  intervalSec: number;
  /** The front end with the most operations (a process usually serves one). */
  frontEnd: "fuse" | "nfs" | "gateway";
  front: LayerRate;
  fuse: LayerRate;
  nfs: LayerRate;
  gateway: LayerRate;
  meta: LayerRate;
  metaRetriesPerSec: number;
  object: LayerRate;
  objectGetsPerSec: number;
  objectPutsPerSec: number;
  objectGetBytesPerSec: number;
  objectPutBytesPerSec: number;
  objectErrorsPerSec: number;
  readBytesPerSec: number;
  writeBytesPerSec: number;
  cacheHitBytesPerSec: number;
  /** Hits over hits + misses in the interval, 0..1; undefined without block reads. */
  cacheHitRatio: number | undefined;
  /** Of one core, 0..100+. */
  cpuPercent: number;
  residentBytes: number;
  bufferUsedBytes: number;
  writebackStagedBytes: number;
  uploadsInFlight: number;
  cacheUsedBytes: number;
  sessions: number;
}

function layer(before: Timed, after: Timed, sec: number): LayerRate {
  const ops = after.count - before.count;
  return {
    opsPerSec: ops / sec,
    latencyMs: ops > 0 ? ((after.sec - before.sec) / ops) * 1000 : 0,
  };
}

export function ratesOf(before: Totals, after: Totals, intervalSec: number): Rates {
  const sec = Math.max(intervalSec, 1e-3);
  const per = (k: keyof Totals) => ((after[k] as number) - (before[k] as number)) / sec;
  const fuse = layer(before.fuse, after.fuse, sec);
  const nfs = layer(before.nfs, after.nfs, sec);
  const gateway = layer(before.gateway, after.gateway, sec);
  const byTotal = (["fuse", "nfs", "gateway"] as const).map((name) => [name, after[name].count]);
  byTotal.sort((a, b) => (b[1] as number) - (a[1] as number));
  const frontEnd = byTotal[0]![0] as Rates["frontEnd"];
  const hits = after.cacheHits - before.cacheHits;
  const lookups = hits + after.cacheMisses - before.cacheMisses;
  return {
    intervalSec: sec,
    frontEnd,
    front: { fuse, nfs, gateway }[frontEnd],
    fuse,
    nfs,
    gateway,
    meta: layer(before.meta, after.meta, sec),
    metaRetriesPerSec: per("metaRetries"),
    object: layer(before.object, after.object, sec),
    objectGetsPerSec: per("objectGets"),
    objectPutsPerSec: per("objectPuts"),
    objectGetBytesPerSec: per("objectGetBytes"),
    objectPutBytesPerSec: per("objectPutBytes"),
    objectErrorsPerSec: per("objectErrors"),
    readBytesPerSec: per("readBytes"),
    writeBytesPerSec: per("writtenBytes"),
    cacheHitBytesPerSec: per("cacheHitBytes"),
    cacheHitRatio: lookups > 0 ? hits / lookups : undefined,
    cpuPercent: per("cpuSec") * 100,
    residentBytes: after.residentBytes,
    bufferUsedBytes: after.bufferUsedBytes,
    writebackStagedBytes: after.writebackStagedBytes,
    uploadsInFlight: after.uploadsInFlight,
    cacheUsedBytes: after.cacheUsedBytes,
    sessions: after.sessions,
  };
}
