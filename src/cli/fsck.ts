/**
 * jfs fsck [META-URL] — checks the namespace and that every block of every slice the metadata
 * refers to exists in the object store (with the right size when blocks are not compressed).
 * The checks are src/volume/fsck.ts's; this is the command and its output.
 */
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { log } from "../log.ts";
import { checkVolume } from "../volume/fsck.ts";
import { openStore, openVolume } from "../volume/open.ts";

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
        const { inodes, slices, blocks, problems } = await checkVolume(meta, store, format);
        log.info(
          `fsck: ${inodes} inodes, ${slices} slices, ${blocks} blocks checked; ${problems.length} problem(s)`,
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
