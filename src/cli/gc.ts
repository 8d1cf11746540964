/**
 * jfs gc [META-URL] — finds objects no slice refers to (leaked by crashes between upload and
 * commit), removes them with --delete, compacts every chunk with --compact, and finishes
 * pending deletions and expired trash. The work is src/volume/gc.ts's; this is flags and output.
 */
import type { CAC } from "cac";
import {
  DELETED_FILES_BATCH,
  LEAK_AGE_SEC_MIN_DEFAULT,
  OBJECT_DELETE_CONCURRENCY,
  Units,
} from "../limits.ts";
import { compactAll, findLeaks } from "../volume/gc.ts";
import { openRuntime, type Runtime } from "../volume/runtime.ts";
import type { GcRound } from "../volume/slicegc.ts";
import { parseIntFlag } from "./options.ts";
import { Progress, runPool } from "./progress.ts";
import { type DataFlags, runtimeOptions } from "./runtime.ts";

interface GcFlags extends DataFlags {
  delete?: boolean;
  compact?: boolean;
  minAge?: unknown;
  json?: boolean;
}

/** What one gc run found and did; `--json` prints it as is. */
export interface GcReport {
  trashFilesRemoved: number;
  pendingDeletions: GcRound;
  chunksCompacted: number | null;
  objects: number;
  bytes: number;
  slicesInUse: number;
  leakedObjects: number;
  leakedBytes: number;
  deletedObjects: number;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const mib = (bytes: number) => `${(bytes / Units.MiB).toFixed(1)} MiB`;

/** The report in sentences, for people. */
export function gcSentences(r: GcReport, deleting: boolean): string[] {
  const p = r.pendingDeletions;
  const lines = [
    `Trash: ${plural(r.trashFilesRemoved, "expired file")} removed.`,
    `Pending deletions: ${plural(p.files, "file")} and ${plural(p.slices, "slice")} freed` +
      (p.failed > 0 ? `, ${p.failed} failed (retried by the next gc).` : "."),
  ];
  if (r.chunksCompacted !== null) lines.push(`Compacted ${plural(r.chunksCompacted, "chunk")}.`);
  lines.push(
    `${r.objects} objects (${mib(r.bytes)}), ${r.slicesInUse} slices in use, ` +
      `${r.leakedObjects} leaked objects (${mib(r.leakedBytes)}).`,
  );
  if (deleting) lines.push(`Deleted ${r.deletedObjects} leaked objects.`);
  else if (r.leakedObjects > 0) lines.push("Run again with --delete to delete them.");
  return lines;
}

async function runGc(rt: Runtime, flags: GcFlags, minAgeSec: number): Promise<GcReport> {
  const trashFilesRemoved = await rt.meta.cleanupTrash();
  while ((await rt.meta.releaseDeletedFiles(DELETED_FILES_BATCH)) > 0) {}
  const pendingDeletions = await rt.data.collectGarbage();
  let chunksCompacted: number | null = null;
  if (flags.compact) {
    const compacting = new Progress("gc: compacting", 0, { noun: "chunks" });
    chunksCompacted = await compactAll(rt, () => compacting.add());
    compacting.finish();
  }
  const listing = new Progress("gc: listing objects", 0, { noun: "objects" });
  const found = await findLeaks(rt, minAgeSec, (bytes) => {
    listing.add(1, bytes);
  });
  listing.finish();
  const { leaked } = found;
  let deletedObjects = 0;
  if (flags.delete && leaked.length > 0) {
    const progress = new Progress("gc: deleting leaked", leaked.length, { noun: "objects" });
    await runPool(
      leaked.length,
      OBJECT_DELETE_CONCURRENCY,
      (i) => rt.store.delete(leaked[i]!.key),
      progress,
    );
    deletedObjects = leaked.length;
  }
  return {
    trashFilesRemoved,
    pendingDeletions,
    chunksCompacted,
    objects: found.objects,
    bytes: found.bytes,
    slicesInUse: found.used,
    leakedObjects: leaked.length,
    leakedBytes: leaked.reduce((sum, o) => sum + o.sizeBytes, 0),
    deletedObjects,
  };
}

export function registerGc(cli: CAC): void {
  cli
    .command("gc [META-URL]", "Find leaked objects (and --delete them), --compact chunks")
    .option("--delete", "Delete the leaked objects found")
    .option("--compact", "Compact every chunk that holds more than one slice")
    .option(
      "--min-age <seconds>",
      `Ignore objects younger than this (default: ${LEAK_AGE_SEC_MIN_DEFAULT})`,
    )
    .option("--json", "Print one JSON object, for scripts")
    .action(async (metaUrl: string | undefined, flags: GcFlags) => {
      const minAgeSec = parseIntFlag("min-age", flags.minAge ?? LEAK_AGE_SEC_MIN_DEFAULT, 0);
      const rt = await openRuntime(
        metaUrl === undefined ? undefined : String(metaUrl),
        runtimeOptions({ ...flags, cacheDir: "memory" }),
        "gc",
      );
      try {
        const report = await runGc(rt, flags, minAgeSec);
        if (flags.json) console.log(JSON.stringify(report, null, 2));
        else console.log(gcSentences(report, flags.delete === true).join("\n"));
      } finally {
        await rt.close();
      }
    });
}
