/**
 * jfs gc [META-URL] — finds objects no slice refers to (leaked by crashes between upload and
 * commit), removes them with --delete, compacts every chunk with --compact, and finishes
 * pending deletions and expired trash.
 */
import type { CAC } from "cac";
import { sliceUses } from "../chunk/inventory.ts";
import { parseBlockKey } from "../chunk/keys.ts";
import { Units } from "../limits.ts";
import { log } from "../log.ts";
import type { ObjectInfo } from "../object/interface.ts";
import { parseIntFlag } from "./options.ts";
import { Progress, runPool } from "./progress.ts";
import { type DataFlags, openRuntime, type Runtime } from "./runtime.ts";

const DELETE_CONCURRENCY = 16;
/** Objects younger than this may belong to a slice whose upload has not been committed yet. */
const LEAK_AGE_MIN_DEFAULT = 3600;

interface GcFlags extends DataFlags {
  delete?: boolean;
  compact?: boolean;
  minAge?: unknown;
}

export function registerGc(cli: CAC): void {
  cli
    .command("gc [META-URL]", "Find leaked objects (and --delete them), --compact chunks")
    .option("--delete", "Delete the leaked objects found")
    .option("--compact", "Compact every chunk that holds more than one slice")
    .option(
      "--min-age <seconds>",
      `Ignore objects younger than this (default: ${LEAK_AGE_MIN_DEFAULT})`,
    )
    .action(async (metaUrl: string | undefined, flags: GcFlags) => {
      const minAgeSec = parseIntFlag("min-age", flags.minAge ?? LEAK_AGE_MIN_DEFAULT, 0);
      const rt = await openRuntime(
        metaUrl === undefined ? undefined : String(metaUrl),
        { ...flags, cacheDir: "memory" },
        "gc",
      );
      try {
        const trashRemoved = await rt.meta.cleanupTrash();
        while ((await rt.meta.releaseDeletedFiles(100)) > 0) {}
        const gcRound = await rt.data.collectGarbage();
        log.info(
          `gc: ${trashRemoved} expired trash file(s) removed; pending deletions done (${JSON.stringify(gcRound)})`,
        );
        if (flags.compact) await compactAll(rt);
        const used = new Set<number>();
        for await (const use of sliceUses(rt.meta)) used.add(use.id);
        for (const u of await rt.meta.unusedSlices(Number.MAX_SAFE_INTEGER)) used.add(u.id);
        const leaked: ObjectInfo[] = [];
        let objects = 0;
        let bytes = 0;
        const newest = Date.now() - minAgeSec * 1000;
        let startAfter: string | undefined;
        do {
          const page = await rt.store.list("chunks/", startAfter, 1000);
          for (const o of page.objects) {
            objects++;
            bytes += o.sizeBytes;
            const ref = parseBlockKey(o.key);
            if (ref && !used.has(ref.sliceId) && o.mtimeMs < newest) leaked.push(o);
          }
          startAfter = page.nextStartAfter;
        } while (startAfter !== undefined);
        const leakedBytes = leaked.reduce((sum, o) => sum + o.sizeBytes, 0);
        console.log(
          `${objects} objects (${(bytes / Units.MiB).toFixed(1)} MiB), ${used.size} slices in use, ` +
            `${leaked.length} leaked objects (${(leakedBytes / Units.MiB).toFixed(1)} MiB)`,
        );
        if (flags.delete && leaked.length > 0) {
          const progress = new Progress("deleting leaked", leaked.length);
          await runPool(
            leaked.length,
            DELETE_CONCURRENCY,
            (i) => rt.store.delete(leaked[i]!.key),
            progress,
          );
          console.log(`deleted ${leaked.length} leaked objects`);
        }
      } finally {
        await rt.close();
      }
    });
}

async function compactAll(rt: Runtime): Promise<void> {
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
  log.info(`gc: compacted ${chunks} chunk(s)`);
}
