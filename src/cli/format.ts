/**
 * jfs format [options] META-URL NAME — creates a volume (JuiceFS's `juicefs format`).
 */
import { existsSync, rmSync } from "node:fs";
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { BLOCK_SIZE_KIB_MAX, BLOCK_SIZE_KIB_MIN, Units } from "../limits.ts";
import { log } from "../log.ts";
import { checkUnchangeable } from "../meta/base.ts";
import { openMeta } from "../meta/index.ts";
import type { Format } from "../meta/interface.ts";
import { expandHome, parseMetaUrl } from "../meta/url.ts";
import { defaultDataDir, formatVolume, maskFormat, newFormat } from "../volume/open.ts";
import { parseChoiceFlag, parseIntFlag, stringFlag } from "./options.ts";

/** JuiceFS's rule: 3 to 63 of [a-z0-9-], starting and ending alphanumeric. */
const VOLUME_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

export interface FormatFlags {
  storage?: unknown;
  bucket?: unknown;
  accessKey?: unknown;
  secretKey?: unknown;
  blockSize?: unknown;
  compress?: unknown;
  checksum?: unknown;
  capacity?: unknown;
  inodes?: unknown;
  trashDays?: unknown;
}

/** Settings the flags change; absent flags leave `base` as it is. */
export function applyFormatFlags(base: Format, flags: FormatFlags): Format {
  const next = { ...base };
  if (flags.storage !== undefined)
    next.storage = parseChoiceFlag("storage", flags.storage, ["file", "s3"]);
  const bucket = stringFlag(flags.bucket);
  if (bucket !== undefined) next.bucket = next.storage === "file" ? expandHome(bucket) : bucket;
  const accessKey = stringFlag(flags.accessKey) ?? process.env.ACCESS_KEY;
  const secretKey = stringFlag(flags.secretKey) ?? process.env.SECRET_KEY;
  if (accessKey !== undefined) next.accessKey = accessKey;
  if (secretKey !== undefined) next.secretKey = secretKey;
  if (flags.blockSize !== undefined) {
    next.blockSizeKiB = parseIntFlag(
      "block-size",
      flags.blockSize,
      BLOCK_SIZE_KIB_MIN,
      BLOCK_SIZE_KIB_MAX,
    );
    if ((next.blockSizeKiB & (next.blockSizeKiB - 1)) !== 0) {
      throw new UserError(`--block-size must be a power of two, got ${next.blockSizeKiB}`);
    }
  }
  if (flags.compress !== undefined) {
    next.compression = parseChoiceFlag("compress", flags.compress, ["none", "zstd"]);
  }
  if (flags.checksum !== undefined) {
    next.checksum = parseChoiceFlag("checksum", flags.checksum, ["crc32", "none"]);
  }
  if (flags.capacity !== undefined) {
    next.capacityBytes = parseIntFlag("capacity", flags.capacity, 0) * Units.GiB;
  }
  if (flags.inodes !== undefined) next.inodes = parseIntFlag("inodes", flags.inodes, 0);
  if (flags.trashDays !== undefined)
    next.trashDays = parseIntFlag("trash-days", flags.trashDays, 0);
  if (next.storage === "file" && (next.accessKey !== undefined || next.secretKey !== undefined)) {
    delete next.accessKey;
    delete next.secretKey;
  }
  return next;
}

export function registerFormat(cli: CAC): void {
  cli
    .command("format <META-URL> <NAME>", "Create a volume (or update one with --force)")
    .option("--storage <type>", "Object storage: file or s3 (default: file)")
    .option("--bucket <bucket>", "A directory for file; http(s)://host:port/bucket for s3")
    .option("--access-key <key>", "S3 access key (or env ACCESS_KEY)")
    .option("--secret-key <key>", "S3 secret key (or env SECRET_KEY)")
    .option(
      "--block-size <KiB>",
      `Block size in KiB, ${BLOCK_SIZE_KIB_MIN}..${BLOCK_SIZE_KIB_MAX} (default: 4096)`,
    )
    .option("--compress <algorithm>", "Block compression: none or zstd (default: none)")
    .option(
      "--checksum <algorithm>",
      "Checksum every object, verified on read: crc32 or none (default: crc32)",
    )
    .option("--capacity <GiB>", "Space quota in GiB, 0 = unlimited (default: 0)")
    .option("--inodes <count>", "Inode quota, 0 = unlimited (default: 0)")
    .option("--trash-days <days>", "Days deleted files stay in .trash, 0 = no trash (default: 1)")
    .option("--force", "Update the settings of an existing volume")
    .example("jfs format sqlite3://myjfs.db myjfs")
    .example(
      "jfs format --storage s3 --bucket http://127.0.0.1:9000/jfs redis://127.0.0.1:6379/1 myjfs",
    )
    .action(async (metaUrl: string, name: string, flags: FormatFlags & { force?: boolean }) => {
      const nameText = String(name);
      if (!VOLUME_NAME.test(nameText)) {
        throw new UserError(
          `Invalid volume name "${nameText}": 3 to 63 of a-z, 0-9 and '-', starting and ending with a letter or digit`,
        );
      }
      // Every flag is checked before anything is opened or created.
      const fresh = applyFormatFlags(
        newFormat({ name: nameText, bucket: defaultDataDir() }),
        flags,
      );
      const url = parseMetaUrl(String(metaUrl));
      const createdFile = url.scheme === "sqlite3" && !existsSync(url.path) ? url.path : undefined;
      const meta = await openMeta(String(metaUrl));
      let done = false;
      try {
        const existing = await meta.core.read(async (tx) => tx.getSetting());
        if (existing !== undefined && !flags.force) {
          const old = JSON.parse(existing) as Format;
          throw new UserError(
            `${meta.displayUrl} already holds volume "${old.name}" (use --force to update its settings)`,
          );
        }
        const old = existing === undefined ? undefined : (JSON.parse(existing) as Format);
        const format = old !== undefined ? applyFormatFlags(old, flags) : fresh;
        // Before the store is touched: a changed checksum setting would misread the marker.
        if (old !== undefined) checkUnchangeable(old, format);
        if (format.storage === "s3" && flags.bucket === undefined && existing === undefined) {
          throw new UserError("--storage s3 needs --bucket http(s)://host:port/bucket");
        }
        if (format.name !== nameText) {
          throw new UserError(`cannot rename volume "${format.name}" to "${nameText}"`);
        }
        await formatVolume(meta, format, flags.force === true);
        done = true;
        const verb = existing ? "updated" : "formatted";
        log.info(`volume "${format.name}" ${verb} in ${meta.displayUrl}`);
        log.debug(JSON.stringify(maskFormat(format)));
      } finally {
        await meta.close();
        // A failed format leaves no trace: not even the empty database it had to open.
        if (!done && createdFile) {
          for (const suffix of ["", "-wal", "-shm"]) rmSync(createdFile + suffix, { force: true });
        }
      }
    });
}
