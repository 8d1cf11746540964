/**
 * Supplementary groups of the process behind a FUSE request. The kernel sends only uid, gid
 * and pid; access checks against a file's group need the rest, which Linux shows in the
 * "Groups:" line of /proc/PID/status. Reads are cached briefly per pid: a process's groups
 * rarely change, and a pid is not reused within FUSE_GROUPS_CACHE_MS in practice.
 */
import { readFileSync } from "node:fs";
import { FUSE_GROUPS_CACHE_MS, FUSE_GROUPS_CACHE_PIDS_MAX } from "../limits.ts";

interface Cached {
  groups: readonly number[];
  atMs: number;
}

const EMPTY: readonly number[] = Object.freeze([]);

/** The numbers of a "Groups:\t1 2 3" line; empty when the line is absent or empty. */
export function parseGroupsLine(status: string): number[] {
  const line = status.split("\n").find((l) => l.startsWith("Groups:"));
  if (line === undefined) return [];
  const out: number[] = [];
  for (const word of line.slice("Groups:".length).trim().split(/\s+/)) {
    const n = Number(word);
    if (word !== "" && Number.isInteger(n) && n >= 0) out.push(n);
  }
  return out;
}

export class GroupsCache {
  readonly #byPid = new Map<number, Cached>();

  constructor(private readonly procRoot = "/proc") {}

  /** Supplementary groups of `pid` other than `gid`; none for pid 0 (the kernel itself). */
  groups(pid: number, gid: number, nowMs = Date.now()): readonly number[] {
    if (pid === 0) return EMPTY;
    let cached = this.#byPid.get(pid);
    if (cached === undefined || nowMs - cached.atMs > FUSE_GROUPS_CACHE_MS) {
      cached = { groups: this.#read(pid), atMs: nowMs };
      if (this.#byPid.size >= FUSE_GROUPS_CACHE_PIDS_MAX) this.#evictOld(nowMs);
      this.#byPid.set(pid, cached);
    }
    return cached.groups.includes(gid) ? cached.groups.filter((g) => g !== gid) : cached.groups;
  }

  #read(pid: number): readonly number[] {
    try {
      return Object.freeze(parseGroupsLine(readFileSync(`${this.procRoot}/${pid}/status`, "utf8")));
    } catch {
      // The process is gone already (or in another pid namespace): primary group only.
      return EMPTY;
    }
  }

  #evictOld(nowMs: number): void {
    for (const [pid, c] of this.#byPid) {
      if (nowMs - c.atMs > FUSE_GROUPS_CACHE_MS) this.#byPid.delete(pid);
    }
    // All fresh: drop the oldest half rather than grow without bound.
    if (this.#byPid.size >= FUSE_GROUPS_CACHE_PIDS_MAX) {
      let n = this.#byPid.size / 2;
      for (const pid of this.#byPid.keys()) {
        if (n-- <= 0) break;
        this.#byPid.delete(pid);
      }
    }
  }
}
