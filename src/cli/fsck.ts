/**
 * jfs fsck [META-URL] [--path DIR] [--repair] — checks the namespace and that every block of
 * every slice the metadata refers to exists in the object store (with the right size when
 * blocks are not compressed), naming each damaged file by its path. The checks are
 * src/volume/fsck.ts's; this is the command and its output.
 */
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { log } from "../log.ts";
import type { BaseMeta } from "../meta/base.ts";
import { checkVolume } from "../volume/fsck.ts";
import { openStore, openVolume } from "../volume/open.ts";
import { stringFlag } from "./options.ts";
import { Progress } from "./progress.ts";

const PROBLEMS_SHOWN_MAX = 50;

interface FsckFlags {
  path?: unknown;
  repair?: boolean;
  repairQuota?: boolean;
  json?: boolean;
}

/** fsck --repair-quota: recounts quota usage from the tree (src/meta/quotaadmin.ts). */
async function repairQuotas(meta: BaseMeta, path: string | undefined): Promise<void> {
  let only: number | undefined;
  if (path !== undefined) {
    const quotas = await meta.listQuotas();
    const paths = await Promise.all(quotas.map((q) => meta.directoryPath(q.inode)));
    const normalized = `/${path
      .split("/")
      .filter((p) => p !== "" && p !== ".")
      .join("/")}`;
    only = quotas[paths.indexOf(normalized)]?.inode;
    if (only === undefined) throw new UserError(`fsck --repair-quota: ${path} has no quota`);
  }
  const repaired = await meta.repairQuotas(only);
  for (const { before, after } of repaired) {
    const where = await meta.directoryPath(after.inode);
    console.log(
      `repaired quota of ${where}: ${before.usedBytes} -> ${after.usedBytes} bytes, ` +
        `${before.usedInodes} -> ${after.usedInodes} inodes`,
    );
  }
  log.info(`fsck --repair-quota: ${repaired.length} quota(s) recounted and fixed`);
}

export function registerFsck(cli: CAC): void {
  cli
    .command("fsck [META-URL]", "Check the namespace and that every block of every file exists")
    .option("--path <dir>", "Check only the files under this path of the volume")
    .option(
      "--repair",
      "Drop references to missing blocks (those ranges then read as zeros); lists each file changed",
    )
    .option(
      "--repair-quota",
      "Recount the usage of every directory quota (or the one on --path) and fix those that are wrong",
    )
    .option("--json", "Print one JSON object, for scripts (exit status 1 still means problems)")
    .example("jfs fsck redis://127.0.0.1/1 --path /datasets --repair")
    .action(async (metaUrl: string | undefined, flags: FsckFlags) => {
      const path = stringFlag(flags.path);
      const repair = flags.repair === true;
      const { meta, format } = await openVolume(
        metaUrl === undefined ? undefined : String(metaUrl),
      );
      const store = openStore(format);
      try {
        if (flags.repairQuota === true) await repairQuotas(meta, path);
        const progress = new Progress("fsck", 0, { noun: "files" });
        const onFile = (bytes: number) => {
          progress.add(1, bytes);
        };
        const report = await checkVolume(meta, store, format, { path, repair, onFile });
        progress.finish();
        const { inodes, slices, blocks, problems, repaired } = report;
        if (flags.json) {
          console.log(JSON.stringify(report));
          if (problems.length > 0) throw new UserError(`fsck found ${problems.length} problem(s)`);
          return;
        }
        const what = path === undefined ? `${inodes} inodes` : `${inodes} files under ${path}`;
        log.info(
          `fsck: ${what}, ${slices} slices, ${blocks} blocks checked; ${problems.length} problem(s)`,
        );
        for (const p of problems.slice(0, PROBLEMS_SHOWN_MAX)) console.log(p);
        if (problems.length > PROBLEMS_SHOWN_MAX) {
          console.log(`... and ${problems.length - PROBLEMS_SHOWN_MAX} more`);
        }
        for (const r of repaired) console.log(`repaired ${r}`);
        if (repaired.length > 0) log.info(`fsck --repair changed ${repaired.length} file(s)`);
        if (problems.length > 0) throw new UserError(`fsck found ${problems.length} problem(s)`);
      } finally {
        await store.close();
        await meta.close();
      }
    });
}
