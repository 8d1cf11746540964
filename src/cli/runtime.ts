/**
 * The data-path and session flags of the commands that open a running volume (serve, mount, gc,
 * warmup, bench), turned into the options of src/volume/runtime.ts.
 */
import type { Command } from "cac";
import { CACHE_CHECKSUMS } from "../chunk/index.ts";
import { UserError } from "../errors.ts";
import {
  BUFFER_SIZE_MIB_DEFAULT,
  CACHE_SIZE_MIB_DEFAULT,
  FREE_SPACE_RATIO_DEFAULT,
  MAX_READAHEAD_MIB_DEFAULT,
  MAX_UPLOADS_DEFAULT,
  PREFETCH_DEFAULT,
  SESSION_EXPIRE_MS,
  SESSION_HEARTBEAT_MS,
  SESSION_TIMEOUT_MS_MAX,
  SESSION_TIMEOUT_MS_MIN,
  Units,
} from "../limits.ts";
import { expandHome } from "../meta/url.ts";
import {
  DEFAULT_CACHE_DIR,
  defaultFileDataOptions,
  type FileDataOptions,
} from "../volume/filedata.ts";
import type { RuntimeOptions } from "../volume/runtime.ts";
import { parseChoiceFlag, parseIntFlag, parseNumberFlag, stringFlag } from "./options.ts";

export interface DataFlags {
  cacheDir?: unknown;
  cacheSize?: unknown;
  freeSpaceRatio?: unknown;
  bufferSize?: unknown;
  maxUploads?: unknown;
  prefetch?: unknown;
  maxReadahead?: unknown;
  writeback?: boolean;
  verifyCacheChecksum?: unknown;
  cacheLargeWrite?: boolean;
  /** cac's --no-dir-prefetch: false when given, true otherwise. */
  dirPrefetch?: boolean;
  /** Only serve and mount have it (withSessionFlags); the others keep the default. */
  sessionTimeout?: unknown;
}

/** The data-path flags of serve and mount (JuiceFS's names and units). */
export function withDataFlags(command: Command): Command {
  return command
    .option(
      "--cache-dir <dir>",
      `Local block cache directory, or "memory" (default: ${DEFAULT_CACHE_DIR})`,
    )
    .option("--cache-size <MiB>", `Cache size cap in MiB (default: ${CACHE_SIZE_MIB_DEFAULT})`)
    .option(
      "--free-space-ratio <ratio>",
      `Free space the cache leaves on its disk (default: ${FREE_SPACE_RATIO_DEFAULT})`,
    )
    .option(
      "--buffer-size <MiB>",
      `Total write buffer in MiB (default: ${BUFFER_SIZE_MIB_DEFAULT})`,
    )
    .option("--max-uploads <n>", `Parallel block uploads (default: ${MAX_UPLOADS_DEFAULT})`)
    .option(
      "--prefetch <n>",
      `Whole-block prefetch on small reads, 0 = off (default: ${PREFETCH_DEFAULT})`,
    )
    .option(
      "--max-readahead <MiB>",
      `Sequential readahead window cap in MiB (default: ${MAX_READAHEAD_MIB_DEFAULT})`,
    )
    .option(
      "--writeback",
      "Upload blocks in the background: close returns once they are in the cache dir",
    )
    .option(
      "--verify-cache-checksum <level>",
      "What a read from the cache dir checks: extend (the crc32 of every 64 KiB it touches) or none (default: extend)",
    )
    .option(
      "--cache-large-write",
      "Also cache full written blocks in the cache dir (default: only partial blocks)",
    )
    .option(
      "--no-dir-prefetch",
      "Do not load a directory's small files when many of them miss the caches",
    );
}

/** The session flag of the long-running commands (serve, mount). */
export function withSessionFlags(command: Command): Command {
  return command.option(
    "--session-timeout <sec>",
    `Other nodes expire this session after this long without a heartbeat; heartbeats come every min(${SESSION_HEARTBEAT_MS / 1000}, timeout/5) s (default: ${SESSION_EXPIRE_MS / 1000})`,
  );
}

/** The session timeout in ms from --session-timeout (seconds), checked before anything opens. */
export function sessionTimeoutMsOf(flags: DataFlags): number {
  if (flags.sessionTimeout === undefined) return SESSION_EXPIRE_MS;
  const min = SESSION_TIMEOUT_MS_MIN / 1000;
  const max = SESSION_TIMEOUT_MS_MAX / 1000;
  return parseIntFlag("session-timeout", flags.sessionTimeout, min, max) * 1000;
}

export function fileDataOptions(flags: DataFlags): FileDataOptions {
  const o = defaultFileDataOptions();
  const dir = stringFlag(flags.cacheDir);
  if (dir !== undefined) o.cacheDir = dir === "memory" ? dir : expandHome(dir);
  if (flags.cacheSize !== undefined) {
    o.cacheSizeBytes = parseIntFlag("cache-size", flags.cacheSize, 0) * Units.MiB;
  }
  if (flags.freeSpaceRatio !== undefined) {
    o.freeSpaceRatio = parseNumberFlag("free-space-ratio", flags.freeSpaceRatio, 0, 0.9);
  }
  if (flags.bufferSize !== undefined) {
    o.bufferSizeBytes = parseIntFlag("buffer-size", flags.bufferSize, 16) * Units.MiB;
  }
  if (flags.maxUploads !== undefined) {
    o.maxUploads = parseIntFlag("max-uploads", flags.maxUploads, 1, 1000);
  }
  if (flags.prefetch !== undefined) o.prefetch = parseIntFlag("prefetch", flags.prefetch, 0, 100);
  if (flags.maxReadahead !== undefined) {
    o.maxReadaheadBytes = parseIntFlag("max-readahead", flags.maxReadahead, 0, 4096) * Units.MiB;
  }
  if (flags.verifyCacheChecksum !== undefined) {
    o.cacheChecksum = parseChoiceFlag(
      "verify-cache-checksum",
      flags.verifyCacheChecksum,
      CACHE_CHECKSUMS,
    );
  }
  if (flags.writeback === true) {
    if (o.cacheDir === "memory") {
      throw new UserError(
        "--writeback stages blocks in the cache directory: not with --cache-dir memory",
      );
    }
    o.writeback = true;
  }
  if (flags.cacheLargeWrite === true) {
    if (o.cacheDir === "memory") {
      throw new UserError(
        "--cache-large-write caches blocks in the cache directory: not with --cache-dir memory",
      );
    }
    o.cacheLargeWrite = true;
  }
  return o;
}

/** Every data-path and session flag checked and turned into options, before anything opens. */
export function runtimeOptions(flags: DataFlags): RuntimeOptions {
  return {
    ...fileDataOptions(flags),
    sessionTimeoutMs: sessionTimeoutMsOf(flags),
    dirPrefetch: flags.dirPrefetch !== false,
  };
}
