/**
 * Scrape-time collectors: numbers a running volume already keeps (cache sizes, the write buffer,
 * staged writeback bytes, sessions) read when /metrics is fetched instead of mirrored on every
 * change. The volume is described structurally so this module imports no layer: the chunk layer
 * imports src/metrics for its hooks and must not reach volume/ through it.
 */
import { METRICS_SESSIONS_CACHE_MS } from "../limits.ts";
import { gauges } from "./jfs.ts";
import type { Sample } from "./registry.ts";

export interface CollectedVolume {
  data: {
    stats(): {
      bufferUsedBytes: number;
      bufferPooledBytes: number;
      disk:
        | { blocks: number; usedBytes: number; stagedBytes: number; stagedBlocks: number }
        | undefined;
    };
    chunks: { memCache: { usedBytes: number; count: number } };
  };
  meta: { listSessions(): Promise<Array<{ expiredAt?: number }>> };
}

const one = (value: number): Sample[] => [{ labels: [], value }];

/** Registers the collectors of `volume`; call the result when it closes. */
export function collectVolume(volume: CollectedVolume): () => void {
  const stats = () => volume.data.stats();
  let sessions = { atMs: -Infinity, count: 0 };
  const removers = [
    gauges.cacheUsedBytes.collect(() => [
      { labels: ["memory"], value: volume.data.chunks.memCache.usedBytes },
      ...diskSample(stats().disk?.usedBytes),
    ]),
    gauges.cacheBlocks.collect(() => [
      { labels: ["memory"], value: volume.data.chunks.memCache.count },
      ...diskSample(stats().disk?.blocks),
    ]),
    gauges.bufferUsedBytes.collect(() => one(stats().bufferUsedBytes)),
    gauges.bufferPooledBytes.collect(() => one(stats().bufferPooledBytes)),
    gauges.writebackStagedBytes.collect(() => one(stats().disk?.stagedBytes ?? 0)),
    gauges.writebackStagedBlocks.collect(() => one(stats().disk?.stagedBlocks ?? 0)),
    // A session list is a meta round trip: scrapes every second (jfs stats) reuse it a while.
    gauges.sessions.collect(async () => {
      const nowMs = Date.now();
      if (nowMs - sessions.atMs > METRICS_SESSIONS_CACHE_MS) {
        const list = await volume.meta.listSessions().catch(() => undefined);
        if (list !== undefined) {
          sessions = { atMs: nowMs, count: list.filter((s) => s.expiredAt === undefined).length };
        }
      }
      return one(sessions.count);
    }),
  ];
  return () => {
    for (const remove of removers) remove();
  };
}

function diskSample(value: number | undefined): Sample[] {
  return value === undefined ? [] : [{ labels: ["disk"], value }];
}

/** The process's own numbers; registered once per process by the metrics server. */
export function collectProcess(): () => void {
  const removers = [
    gauges.uptimeSec.collect(() => one(process.uptime())),
    gauges.residentBytes.collect(() => one(process.memoryUsage.rss())),
    gauges.cpuSec.collect(() => {
      const { user, system } = process.cpuUsage();
      return one((user + system) / 1e6);
    }),
  ];
  return () => {
    for (const remove of removers) remove();
  };
}
