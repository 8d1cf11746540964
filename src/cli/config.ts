/**
 * jfs config META-URL [flags] — changes a volume's changeable settings.
 */
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { log } from "../log.ts";
import { applyFormatFlags, type FormatFlags } from "./format.ts";
import { formatVolume, maskFormat, openVolume } from "./volume.ts";

export function registerConfig(cli: CAC): void {
  cli
    .command("config [META-URL]", "Change a volume's settings")
    .option("--bucket <bucket>", "Move to another bucket or directory (data is not copied)")
    .option("--access-key <key>", "S3 access key")
    .option("--secret-key <key>", "S3 secret key")
    .option("--capacity <GiB>", "Space quota in GiB, 0 = unlimited")
    .option("--inodes <count>", "Inode quota, 0 = unlimited")
    .option("--trash-days <days>", "Days deleted files stay in .trash, 0 = no trash")
    .example("jfs config sqlite3://myjfs.db --capacity 100")
    .action(async (metaUrl: string | undefined, flags: FormatFlags) => {
      const { meta, format } = await openVolume(
        metaUrl === undefined ? undefined : String(metaUrl),
      );
      try {
        const changeable: FormatFlags = {
          bucket: flags.bucket,
          accessKey: flags.accessKey,
          secretKey: flags.secretKey,
          capacity: flags.capacity,
          inodes: flags.inodes,
          trashDays: flags.trashDays,
        };
        const next = applyFormatFlags(format, changeable);
        const changed = Object.keys(next).filter(
          (k) =>
            JSON.stringify(next[k as keyof typeof next]) !==
            JSON.stringify(format[k as keyof typeof format]),
        );
        if (changed.length === 0) {
          throw new UserError(
            "nothing to change: give --capacity, --inodes, --trash-days, --bucket or keys",
          );
        }
        const storageChanged = ["bucket", "accessKey", "secretKey"].some((k) =>
          changed.includes(k),
        );
        if (storageChanged) await formatVolume(meta, next, true);
        else await meta.format(next, true);
        log.info(`volume "${next.name}": changed ${changed.join(", ")}`);
        log.debug(JSON.stringify(maskFormat(next)));
      } finally {
        await meta.close();
      }
    });
}
