/**
 * jfs gc [META-URL] — finds objects no slice refers to (leaked by crashes between upload and
 * commit), removes them with --delete, compacts every chunk with --compact, and finishes
 * pending deletions and expired trash.
 */
import type { CAC } from "cac";
import { type BlockObject, blockObjects, type GcRound, sliceUses } from "../chunk/index.ts";
import {
  DELETED_FILES_BATCH,
  LEAK_AGE_SEC_MIN_DEFAULT,
  OBJECT_DELETE_CONCURRENCY,
  Units,
} from "../limits.ts";
import { parseIntFlag } from "./options.ts";
import { Progress, runPool } from "./progress.ts";
import { type DataFlags, openRuntime, type Runtime } from "./runtime.ts";

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

async function findLeaks(rt: Runtime, minAgeSec: number) {
  const used = new Set<number>();
  for await (const use of sliceUses(rt.meta)) used.add(use.id);
  for (const u of await rt.meta.unusedSlices(Number.MAX_SAFE_INTEGER)) used.add(u.id);
  const leaked: BlockObject[] = [];
  let objects = 0;
  let bytes = 0;
  const newest = Date.now() - minAgeSec * 1000;
  for await (const o of blockObjects(rt.store)) {
    objects++;
    bytes += o.sizeBytes;
    if (o.sliceId !== undefined && !used.has(o.sliceId) && o.mtimeMs < newest) leaked.push(o);
  }
  return { used: used.size, leaked, objects, bytes };
}

async function runGc(rt: Runtime, flags: GcFlags, minAgeSec: number): Promise<GcReport> {
  const trashFilesRemoved = await rt.meta.cleanupTrash();
  while ((await rt.meta.releaseDeletedFiles(DELETED_FILES_BATCH)) > 0) {}
  const pendingDeletions = await rt.data.collectGarbage();
  const chunksCompacted = flags.compact ? await compactAll(rt) : null;
  const found = await findLeaks(rt, minAgeSec);
  const { leaked } = found;
  let deletedObjects = 0;
  if (flags.delete && leaked.length > 0) {
    const progress = new Progress("deleting leaked", leaked.length);
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
        { ...flags, cacheDir: "memory" },
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

async function compactAll(rt: Runtime): Promise<number> {
  let chunks = 0;
  const seen = new Set<string>();
  for await (const use of sliceUses(rt.meta)) {
    const key = `${use.ino}:${use.chunkIndex}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const slices = await rt.meta.readChunk(use.ino, use.chunkIndex);
    if (slices.length > 1) {
      await rt.data.compact(use.ino, use.chunkIndex);
      chunks++;
    }
  }
  await rt.data.collectGarbage();
  return chunks;
}
