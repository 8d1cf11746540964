/**
 * The running volume behind `jfs serve` and `jfs mount`: meta session, object store, data path
 * and VFS in one process, opened from a META-URL and the data-path flags, closed in order.
 */

import { hostname } from "node:os";
import type { Command } from "cac";
import { UserError } from "../errors.ts";
import {
  SESSION_EXPIRE_MS,
  SESSION_HEARTBEAT_MS,
  SESSION_TIMEOUT_MS_MAX,
  SESSION_TIMEOUT_MS_MIN,
  Units,
} from "../limits.ts";
import { log } from "../log.ts";
import type { BaseMeta } from "../meta/base.ts";
import type { Format } from "../meta/interface.ts";
import { expandHome } from "../meta/url.ts";
import type { ObjectStore } from "../object/interface.ts";
import { ObjectNotFoundError } from "../object/interface.ts";
import { VERSION } from "../version.ts";
import { ChunkFileData, defaultFileDataOptions, type FileDataOptions } from "../vfs/filedata.ts";
import { JfsVfs } from "../vfs/vfs.ts";
import { parseIntFlag, parseNumberFlag, stringFlag } from "./options.ts";
import { describeStoreError, MARKER_KEY, openStore, openVolume } from "./volume.ts";

export interface DataFlags {
  cacheDir?: unknown;
  cacheSize?: unknown;
  freeSpaceRatio?: unknown;
  bufferSize?: unknown;
  maxUploads?: unknown;
  prefetch?: unknown;
  maxReadahead?: unknown;
  writeback?: boolean;
  /** Only serve and mount have it (withSessionFlags); the others keep the default. */
  sessionTimeout?: unknown;
}

/** The data-path flags of serve and mount (JuiceFS's names and units). */
export function withDataFlags(command: Command): Command {
  return command
    .option("--cache-dir <dir>", 'Local block cache directory, or "memory" (default: ~/.jfs/cache)')
    .option("--cache-size <MiB>", "Cache size cap in MiB (default: 102400)")
    .option("--free-space-ratio <ratio>", "Free space the cache leaves on its disk (default: 0.1)")
    .option("--buffer-size <MiB>", "Total write buffer in MiB (default: 300)")
    .option("--max-uploads <n>", "Parallel block uploads (default: 20)")
    .option("--prefetch <n>", "Whole-block prefetch on small reads, 0 = off (default: 1)")
    .option("--max-readahead <MiB>", "Sequential readahead window cap in MiB (default: 64)")
    .option(
      "--writeback",
      "Upload blocks in the background: close returns once they are in the cache dir",
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
  if (flags.writeback === true) {
    if (o.cacheDir === "memory") {
      throw new UserError(
        "--writeback stages blocks in the cache directory: not with --cache-dir memory",
      );
    }
    o.writeback = true;
  }
  return o;
}

export interface Runtime {
  vfs: JfsVfs;
  data: ChunkFileData;
  meta: BaseMeta;
  format: Format;
  store: ObjectStore;
  metaUrl: string;
  /** Flushes, closes the session, the engines and the store; safe to call twice. */
  close(): Promise<void>;
}

/** The store must answer, and hold this volume's marker, before anything is served. */
async function checkStore(store: ObjectStore, format: Format): Promise<void> {
  let owner: string;
  try {
    owner = (await store.get(MARKER_KEY)).toString().trim();
  } catch (error) {
    if (error instanceof ObjectNotFoundError) {
      throw new UserError(
        `${store.description} does not hold volume "${format.name}" (its ${MARKER_KEY} is missing): wrong bucket?`,
      );
    }
    throw new UserError(`Cannot reach storage ${store.description}: ${describeStoreError(error)}`);
  }
  if (owner !== format.uuid) {
    throw new UserError(`${store.description} holds volume ${owner}, not ${format.uuid}`);
  }
}

export async function openRuntime(
  metaUrl: string | undefined,
  flags: DataFlags,
  mountPoint: string,
): Promise<Runtime> {
  const options = fileDataOptions(flags);
  const timeoutMs = sessionTimeoutMsOf(flags);
  const { meta, format, metaUrl: url } = await openVolume(metaUrl);
  const store = openStore(format);
  try {
    await checkStore(store, format);
  } catch (error) {
    await Promise.allSettled([store.close(), meta.close()]);
    throw error;
  }
  const data = new ChunkFileData({ meta, store, format, options });
  const vfs = new JfsVfs(meta, data, format);
  const info = { hostname: hostname(), pid: process.pid, version: VERSION, mountPoint, timeoutMs };
  await vfs.startSession(info);
  log.debug(`session opened on ${meta.displayUrl}, data in ${store.description}`);
  let closing: Promise<void> | undefined;
  return {
    vfs,
    data,
    meta,
    format,
    store,
    metaUrl: url,
    close() {
      closing ??= vfs.close().finally(() => store.close());
      return closing;
    },
  };
}
