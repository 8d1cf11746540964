/**
 * Touches most of the machine's free memory once, in a child process that then exits, so that
 * the benchmarks after it write their page cache into memory the hypervisor already backs.
 *
 * Why: this machine is a Firecracker guest whose RAM the host maps in on first touch. A write
 * into page cache pages the guest never used before runs at about 0.45 GB/s, the same write
 * into pages freed earlier at 3.9-5.6 GB/s (`dd` of 2 GiB, three times in a row), and the
 * difference lands in whichever server of a bench writes first (docs/benchmarks.md, "NFS").
 *
 *   await pretouchMemory(); // before the first measured phase
 */
import { readFileSync } from "node:fs";

const GiB = 1024 ** 3;
/** Left untouched, so that the touch never pushes the machine into reclaim. */
const HEADROOM_BYTES = 3 * GiB;

/** MemAvailable of /proc/meminfo, or 0 where there is none. */
function availableBytes(): number {
  try {
    const kib = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}

/** Touches up to `maxBytes` (default: all available but HEADROOM_BYTES); the bytes touched. */
export async function pretouchMemory(maxBytes = Number.POSITIVE_INFINITY): Promise<number> {
  const bytes = Math.max(0, Math.min(maxBytes, availableBytes() - HEADROOM_BYTES));
  const gib = Math.floor(bytes / GiB);
  if (gib === 0) return 0;
  // One page in each 4 KiB of a 1 GiB buffer at a time: each buffer is dropped before the next,
  // and the child's exit gives every page back to the guest's free lists, touched.
  const script = `for (let g = 0; g < ${gib}; g++) { const b = new Uint8Array(${GiB}); for (let i = 0; i < b.length; i += 4096) b[i] = 1; Bun.gc(true); }`;
  const child = Bun.spawn([process.execPath, "-e", script], {
    stdout: "inherit",
    stderr: "inherit",
  });
  if ((await child.exited) !== 0) throw new Error(`memory pre-touch exited with ${child.exitCode}`);
  return gib * GiB;
}

if (import.meta.main) {
  const touched = await pretouchMemory();
  console.log(`touched ${(touched / GiB).toFixed(0)} GiB`);
}
