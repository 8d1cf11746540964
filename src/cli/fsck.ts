/**
 * jfs fsck [META-URL] — checks the namespace and that every block of every slice the metadata
 * refers to exists in the object store (with the right size when blocks are not compressed).
 */
import type { CAC } from "cac";
import { sliceObjects, sliceUses } from "../chunk/index.ts";
import { UserError } from "../errors.ts";
import { OBJECT_HEAD_CONCURRENCY, Units } from "../limits.ts";
import { log } from "../log.ts";
import { checkNamespace } from "../meta/check.ts";
import { runPool } from "./progress.ts";
import { openStore, openVolume } from "./volume.ts";

const PROBLEMS_SHOWN_MAX = 50;

export function registerFsck(cli: CAC): void {
  cli
    .command("fsck [META-URL]", "Check the namespace and that every block of every file exists")
    .action(async (metaUrl: string | undefined) => {
      const { meta, format } = await openVolume(
        metaUrl === undefined ? undefined : String(metaUrl),
      );
      const store = openStore(format);
      try {
        const namespace = await checkNamespace(meta);
        const problems = [...namespace.problems];
        const blockBytes = format.blockSizeKiB * Units.KiB;
        const checked = new Set<number>();
        let blocks = 0;
        const pending: Array<{ key: string; bytes: number; ino: number }> = [];
        const drain = async () => {
          const batch = pending.splice(0);
          await runPool(batch.length, OBJECT_HEAD_CONCURRENCY, async (i) => {
            const b = batch[i]!;
            const info = await store.head(b.key);
            if (!info) problems.push(`inode ${b.ino}: block ${b.key} is missing`);
            else if (format.compression === "none" && info.sizeBytes !== b.bytes) {
              problems.push(
                `inode ${b.ino}: block ${b.key} has ${info.sizeBytes} bytes, not ${b.bytes}`,
              );
            }
          });
        };
        for await (const use of sliceUses(meta)) {
          if (checked.has(use.id)) continue;
          checked.add(use.id);
          for (const block of sliceObjects(use.id, use.size, blockBytes)) {
            pending.push({ ...block, ino: use.ino });
            blocks++;
          }
          if (pending.length >= 1000) await drain();
        }
        await drain();
        log.info(
          `fsck: ${namespace.inodes} inodes, ${checked.size} slices, ${blocks} blocks checked; ${problems.length} problem(s)`,
        );
        for (const p of problems.slice(0, PROBLEMS_SHOWN_MAX)) console.log(p);
        if (problems.length > PROBLEMS_SHOWN_MAX) {
          console.log(`... and ${problems.length - PROBLEMS_SHOWN_MAX} more`);
        }
        if (problems.length > 0) throw new UserError(`fsck found ${problems.length} problem(s)`);
      } finally {
        await store.close();
        await meta.close();
      }
    });
}
