/**
 * Preloaded into a jfs process by bench/memory.ts (`bun --preload`): every 100 ms it reads the
 * process's resident set and Bun's own accounting, and writes the sample taken at the highest
 * RSS so far (plus the highest of each figure) to $JFS_MEMORY_SAMPLES as one JSON line, so the
 * bench can tell JS-heap garbage from native memory (ArrayBuffers, fetch bodies, mmaps).
 */

import { heapStats } from "bun:jsc";
import { writeFileSync } from "node:fs";

/** "%p" in the path stands for the process id (BUN_OPTIONS preloads it into every bun process). */
const out = process.env.JFS_MEMORY_SAMPLES?.replaceAll("%p", String(process.pid));
const MiB = 1024 * 1024;

interface Sample {
  rssMiB: number;
  heapSizeMiB: number;
  heapExtraMiB: number;
  arrayBuffersMiB: number;
  externalMiB: number;
  objects: number;
}

function sample(): Sample {
  const usage = process.memoryUsage();
  const heap = heapStats();
  return {
    rssMiB: usage.rss / MiB,
    heapSizeMiB: heap.heapSize / MiB,
    heapExtraMiB: heap.extraMemorySize / MiB,
    arrayBuffersMiB: usage.arrayBuffers / MiB,
    externalMiB: usage.external / MiB,
    objects: heap.objectCount,
  };
}

if (out !== undefined) {
  let atPeak = sample();
  const max = { ...atPeak };
  const timer = setInterval(() => {
    const now = sample();
    if (now.rssMiB > atPeak.rssMiB) atPeak = now;
    for (const key of Object.keys(max) as (keyof Sample)[]) max[key] = Math.max(max[key], now[key]);
    writeFileSync(out, `${JSON.stringify({ atPeak, max, now })}\n`);
  }, 100);
  timer.unref();
}
