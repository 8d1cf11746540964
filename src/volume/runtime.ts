/**
 * A running volume: meta session, object store, data path and VFS in one process, opened from a
 * META-URL and data-path options, closed in order. The one place they are put together: the CLI
 * (serve, mount, gc, warmup, bench), tests and benches all open volumes here.
 */
import { hostname } from "node:os";
import { UserError } from "../errors.ts";
import { SESSION_EXPIRE_MS } from "../limits.ts";
import { log } from "../log.ts";
import type { Format, Meta } from "../meta/interface.ts";
import type { ObjectStore } from "../object/interface.ts";
import { ObjectNotFoundError } from "../object/interface.ts";
import { VERSION } from "../version.ts";
import type { Vfs } from "../vfs/interface.ts";
import { JfsVfs } from "../vfs/vfs.ts";
import { ChunkFileData, defaultFileDataOptions, type FileDataOptions } from "./filedata.ts";
import { describeStoreError, MARKER_KEY, openStore, openVolume } from "./open.ts";

/** The data path's options (defaults for those left out) and the session's timeout. */
export interface RuntimeOptions extends Partial<FileDataOptions> {
  /** Other nodes expire the session after this long without a heartbeat. */
  sessionTimeoutMs?: number;
  /** Load a directory's small files when many of them miss the caches (default on). */
  dirPrefetch?: boolean;
}

export interface Runtime {
  vfs: Vfs;
  data: ChunkFileData;
  meta: Meta;
  format: Format;
  store: ObjectStore;
  metaUrl: string;
  /** Records where the volume is served once that is known (serve --port 0). */
  updateMountPoint(mountPoint: string): Promise<void>;
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

/** Opens the volume at `metaUrl` (the embedded default without one) and starts its session. */
export async function openRuntime(
  metaUrl: string | undefined,
  runtimeOptions: RuntimeOptions,
  mountPoint: string,
): Promise<Runtime> {
  const { sessionTimeoutMs, dirPrefetch, ...given } = runtimeOptions;
  const options: FileDataOptions = { ...defaultFileDataOptions(), ...given };
  const timeoutMs = sessionTimeoutMs ?? SESSION_EXPIRE_MS;
  const { meta, format, metaUrl: url } = await openVolume(metaUrl);
  const store = openStore(format);
  try {
    await checkStore(store, format);
  } catch (error) {
    await Promise.allSettled([store.close(), meta.close()]);
    throw error;
  }
  const data = new ChunkFileData({ meta, store, format, options });
  const vfs = new JfsVfs(meta, data, format, { dirPrefetch: dirPrefetch !== false });
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
    updateMountPoint: (mountPoint) => meta.updateSessionMountPoint(mountPoint),
    close() {
      closing ??= vfs.close().finally(() => store.close());
      return closing;
    },
  };
}
