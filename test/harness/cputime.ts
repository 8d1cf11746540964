/**
 * CPU time of a process from /proc/PID/stat (utime + stime of all its threads), to check that
 * an idle server sleeps: a resource bound, not a speed target.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc/PID/stat's times (sysconf(_SC_CLK_TCK), 100 on Linux). */
function clockTicksPerSec(): number {
  const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim();
  const n = Number(out);
  return Number.isInteger(n) && n > 0 ? n : 100;
}

/** utime + stime of `pid`, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3 (state).
  return Number(fields[11]) + Number(fields[12]);
}

/** The share of one core `pid` used over the next `windowMs` (0.25 = a quarter of a core). */
export async function cpuShareOver(pid: number, windowMs: number): Promise<number> {
  const ticksPerSec = clockTicksPerSec();
  const ticksBefore = cpuTicks(pid);
  const start = performance.now();
  await Bun.sleep(windowMs);
  const ticks = cpuTicks(pid) - ticksBefore;
  const wallSec = (performance.now() - start) / 1000;
  return ticks / ticksPerSec / wallSec;
}
