/**
 * Housekeeping that some live session must do: empty trash older than the volume keeps it
 * (sessions.ts cleans up after sessions that died without closing).
 */
import { TRASH_INODE } from "../limits.ts";
import type { MetaCore } from "./core.ts";
import { ROOT_CREDENTIALS } from "./interface.ts";
import * as ns from "./namespace.ts";
import { rmdir, unlink } from "./remove.ts";

const HOUR_MS = 3_600_000;

/** Parses a trash hour name (YYYY-MM-DD-HH, UTC) into its start time in ms. */
export function parseTrashHour(name: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})-(\d{2})$/.exec(name);
  if (!m) return undefined;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
}

export async function cleanupTrash(core: MetaCore, nowMs: number): Promise<number> {
  const days = core.format.trashDays;
  const keepAfterMs = nowMs - days * 24 * HOUR_MS;
  const ctx = ROOT_CREDENTIALS;
  let removed = 0;
  let cookie = 0;
  for (;;) {
    const hours = await ns.readdir(core, ctx, TRASH_INODE, cookie, 100, false);
    if (hours.length === 0) break;
    for (const hour of hours) {
      cookie = hour.cookie;
      const start = parseTrashHour(hour.name.toString());
      if (start === undefined || start + HOUR_MS > keepAfterMs) continue;
      removed += await emptyDirectory(core, hour.inode);
      await rmdir(core, ctx, TRASH_INODE, hour.name).catch(() => undefined);
    }
  }
  return removed;
}

async function emptyDirectory(core: MetaCore, dir: number): Promise<number> {
  let removed = 0;
  for (;;) {
    const entries = await ns.readdir(core, ROOT_CREDENTIALS, dir, 0, 1000, false);
    if (entries.length === 0) return removed;
    for (const e of entries) {
      await unlink(core, ROOT_CREDENTIALS, dir, e.name);
      removed++;
    }
  }
}
