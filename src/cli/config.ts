/**
 * jfs config META-URL [flags] — changes a volume's changeable settings.
 */
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { FORMAT_RELOAD_MS } from "../limits.ts";
import { log } from "../log.ts";
import type { BaseMeta } from "../meta/base.ts";
import { checksumOf, type Format } from "../meta/interface.ts";
import { formatVolume, maskFormat, openVolume } from "../volume/open.ts";
import { applyFormatFlags, type FormatFlags } from "./format.ts";
import { parseChoiceFlag } from "./options.ts";

export function registerConfig(cli: CAC): void {
  cli
    .command("config [META-URL]", "Change a volume's settings")
    .option("--bucket <bucket>", "Move to another bucket or directory (data is not copied)")
    .option("--access-key <key>", "S3 access key")
    .option("--secret-key <key>", "S3 secret key")
    .option("--capacity <GiB>", "Space quota in GiB, 0 = unlimited")
    .option("--inodes <count>", "Inode quota, 0 = unlimited")
    .option("--trash-days <days>", "Days deleted files stay in .trash, 0 = no trash")
    .option(
      "--checksum <algorithm>",
      "crc32: checksum data written from now on (volumes formatted without; every node stopped)",
    )
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
        if (flags.checksum !== undefined) await turnChecksumsOn(meta, format, next, flags.checksum);
        const changed = Object.keys(next).filter(
          (k) =>
            JSON.stringify(next[k as keyof typeof next]) !==
            JSON.stringify(format[k as keyof typeof format]),
        );
        if (changed.length === 0) {
          throw new UserError(
            "nothing to change: give --capacity, --inodes, --trash-days, --checksum, --bucket or keys",
          );
        }
        const storageChanged = ["bucket", "accessKey", "secretKey"].some((k) =>
          changed.includes(k),
        );
        if (storageChanged) await formatVolume(meta, next, true);
        else await meta.format(next, true);
        log.info(`volume "${next.name}": changed ${changed.join(", ")}`);
        if (storageChanged)
          log.info("running mounts and servers use the new storage after a restart");
        else if (!changed.includes("checksum")) {
          log.info(
            `running mounts and servers apply it within ${FORMAT_RELOAD_MS / 1000} s, no restart needed`,
          );
        }
        log.debug(JSON.stringify(maskFormat(next)));
      } finally {
        await meta.close();
      }
    });
}

/**
 * On a volume formatted without checksums, objects of slices written from now on get them:
 * slice ids only grow, so the first id no node has reserved yet marks where they start. A node
 * running now would go on writing plain objects with ids it reserved, so every node must be
 * stopped. Older data stays plain (and unverified) until rewritten or compacted.
 */
async function turnChecksumsOn(
  meta: BaseMeta,
  format: Format,
  next: Format,
  value: unknown,
): Promise<void> {
  parseChoiceFlag("checksum", value, ["crc32"]);
  if (checksumOf(format) === "crc32") {
    throw new UserError(`volume "${format.name}" already checksums its data`);
  }
  await meta.expireSessions();
  const sessions = await meta.listSessions();
  if (sessions.length > 0) {
    throw new UserError(
      `volume "${format.name}" has ${sessions.length} live session(s): stop every mount and serve first, ` +
        "they would go on writing data without checksums",
    );
  }
  // The counter holds the last slice id reserved (src/meta/core.ts).
  next.checksum = "crc32";
  next.checksumSinceSliceId = (await meta.counters()).nextSliceId + 1;
}
