/**
 * Opening a volume from the command line: the META-URL (or the embedded default, formatted on
 * first use), the object store its settings name, the storage self-test and the volume marker.
 */
import { randomBytes } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import { sliceIdOfKey } from "../chunk/index.ts";
import { describeError, UserError } from "../errors.ts";
import { BLOCK_SIZE_KIB_DEFAULT, TRASH_DAYS_DEFAULT } from "../limits.ts";
import { log } from "../log.ts";
import type { BaseMeta } from "../meta/base.ts";
import { openMeta } from "../meta/index.ts";
import { checksumOf, type Format } from "../meta/interface.ts";
import { DEFAULT_META_URL } from "../meta/url.ts";
import { createObjectStore, MeteredObjectStore } from "../object/index.ts";
import type { ObjectStore } from "../object/interface.ts";
import { ObjectNotFoundError } from "../object/interface.ts";

export const DEFAULT_VOLUME_NAME = "jfs";
/** Marker object under NAME/ naming the volume that owns the prefix (JuiceFS: juicefs_uuid). */
export const MARKER_KEY = "jfs_uuid";

export function defaultDataDir(): string {
  return join(homedir(), ".jfs", "data");
}

/** The settings with secrets masked: safe for output and logs. */
export function maskFormat(format: Format): Format {
  const masked = { ...format };
  if (masked.secretKey) masked.secretKey = "****";
  if (masked.accessKey) masked.accessKey = `${masked.accessKey.slice(0, 3)}****`;
  return masked;
}

/** Retries for the format-time self-test: a wrong endpoint should fail in seconds, not minutes. */
const SELF_TEST_RETRIES_MAX = 2;

/** The object store holding a volume's data, keys prefixed with the volume name. */
export function openStore(format: Format, retriesMax?: number): ObjectStore {
  const prefix = `${format.name}/`;
  const store = createObjectStore({
    storage: format.storage,
    bucket: format.bucket,
    accessKey: format.accessKey,
    secretKey: format.secretKey,
    checksum: checksumOf(format) === "crc32",
    checksumCovers: checksumCovers(format, prefix),
    prefix,
    retriesMax,
  });
  return new MeteredObjectStore(store); // counted and timed for /metrics
}

/**
 * A store failure in our words where the SDK's would puzzle: the AWS SDK, given no keys, looks
 * for them in its own places and says "Could not load credentials from any providers".
 */
export function describeStoreError(error: unknown): string {
  const text = describeError(error);
  if (/Could not load credentials|CredentialsProviderError/i.test(text)) {
    return "no S3 credentials: give --access-key and --secret-key, or set ACCESS_KEY and SECRET_KEY";
  }
  return text;
}

/**
 * Which objects carry a checksum trailer: every one (undefined), or on a volume that turned
 * checksums on after format, the blocks of slices written since (src/cli/config.ts).
 */
function checksumCovers(format: Format, prefix: string): ((key: string) => boolean) | undefined {
  const since = format.checksumSinceSliceId;
  if (since === undefined) return undefined;
  return (key) => {
    if (!key.startsWith(prefix)) return false;
    const sliceId = sliceIdOfKey(key.slice(prefix.length));
    return sliceId !== undefined && sliceId >= since;
  };
}

/**
 * Put, get, compare and delete a random object: proves the bucket exists and the credentials
 * can write, before any meta is written.
 */
export async function selfTestStore(store: ObjectStore): Promise<void> {
  const key = `testing/${randomBytes(8).toString("hex")}`;
  const data = randomBytes(1024);
  try {
    await store.put(key, data);
    const back = await store.get(key);
    if (!back.equals(data)) throw new Error("read back different bytes than were written");
    await store.delete(key);
  } catch (error) {
    throw new UserError(
      `Storage ${store.description} failed its self-test: ${describeStoreError(error)}`,
    );
  }
}

/** Refuses a bucket prefix that another volume already owns; writes our marker. */
export async function claimStore(store: ObjectStore, format: Format): Promise<void> {
  let owner: string | undefined;
  try {
    owner = (await store.get(MARKER_KEY)).toString().trim();
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
  }
  if (owner !== undefined && owner !== format.uuid) {
    throw new UserError(
      `${store.description} already holds volume ${owner} under "${format.name}/": ` +
        "use another bucket or name, or jfs destroy the old volume",
    );
  }
  if (owner === undefined) await store.put(MARKER_KEY, Buffer.from(`${format.uuid}\n`));
}

export function newFormat(fields: Partial<Format> & Pick<Format, "name">): Format {
  const { name, ...rest } = fields;
  return {
    name,
    uuid: crypto.randomUUID(),
    storage: "file",
    bucket: defaultDataDir(),
    blockSizeKiB: BLOCK_SIZE_KIB_DEFAULT,
    compression: "none",
    // New volumes checksum every object; old records lack the field and stay plain.
    checksum: "crc32",
    capacityBytes: 0,
    inodes: 0,
    trashDays: TRASH_DAYS_DEFAULT,
    metaVersion: 1,
    createdAt: new Date().toISOString(),
    ...rest,
  };
}

/** Creates the bucket if needed, self-tests it, claims it, then writes the settings to meta. */
export async function formatVolume(meta: BaseMeta, format: Format, force: boolean): Promise<void> {
  const store = openStore(format, SELF_TEST_RETRIES_MAX);
  try {
    await store.create().catch((error: unknown) => {
      log.debug(`create bucket: ${describeError(error)}`);
    });
    await selfTestStore(store);
    await claimStore(store, format);
  } finally {
    await store.close();
  }
  await meta.format(format, force);
}

export interface OpenedVolume {
  meta: BaseMeta;
  format: Format;
  metaUrl: string;
}

/**
 * Opens and loads the volume at `metaUrl`. Without a URL this is the embedded default
 * (SQLite + local directory under ~/.jfs), formatted on first use.
 */
export async function openVolume(metaUrl: string | undefined): Promise<OpenedVolume> {
  const url = metaUrl ?? DEFAULT_META_URL;
  const meta = await openMeta(url, { create: metaUrl === undefined });
  try {
    if (
      metaUrl === undefined &&
      (await meta.core.read(async (tx) => tx.getSetting())) === undefined
    ) {
      const format = newFormat({ name: DEFAULT_VOLUME_NAME });
      await formatVolume(meta, format, false);
      log.info(
        `formatted the embedded default volume "${format.name}" (meta ${url}, data ${format.bucket})`,
      );
    }
    const format = await meta.load();
    return { meta, format, metaUrl: url };
  } catch (error) {
    await meta.close().catch(() => undefined);
    throw error;
  }
}
