/**
 * Builds the object store a volume's flags describe:
 *   --storage file --bucket /var/jfs          objects as files under a directory
 *   --storage s3   --bucket http://h:9000/b   objects in an S3-compatible bucket (path-style)
 * then wraps it: checksum trailers (when the volume has them), then the volume's key prefix
 * ("NAME/"), outermost. The checksum store sees prefixed keys (checksumCovers gets them so), but
 * a trailer covers only the data, never the key.
 */
import { UserError } from "../errors.ts";
import { ChecksumObjectStore } from "./checksum.ts";
import { FileObjectStore } from "./file.ts";
import type { ObjectStore } from "./interface.ts";
import { PrefixedObjectStore } from "./prefix.ts";
import { S3ObjectStore } from "./s3.ts";

export type StorageKind = "file" | "s3";
export const STORAGE_KINDS: readonly StorageKind[] = ["file", "s3"];

export interface ObjectStoreOptions {
  /** Validated here: it usually comes straight from a flag. */
  storage: string;
  /** A directory (or file:///dir) for "file"; http(s)://host:port/bucket[/prefix] for "s3". */
  bucket: string;
  accessKey?: string | undefined;
  secretKey?: string | undefined;
  region?: string | undefined;
  /** "file" only: fsync objects and directories before put returns (default true). */
  fsync?: boolean | undefined;
  /** Append and verify a CRC-32 trailer on every object (see checksum.ts)... */
  checksum?: boolean | undefined;
  /** ...or only on the objects this names (keys as the checksum store sees them: prefixed). */
  checksumCovers?: ((key: string) => boolean) | undefined;
  /** Keys live under this prefix, e.g. the volume name plus "/". */
  prefix?: string | undefined;
  requestTimeoutMs?: number | undefined;
  retriesMax?: number | undefined;
}

export function createObjectStore(options: ObjectStoreOptions): ObjectStore {
  let store = createBase(options);
  if (options.checksum === true) store = new ChecksumObjectStore(store, options.checksumCovers);
  if (options.prefix !== undefined && options.prefix !== "") {
    store = new PrefixedObjectStore(store, options.prefix);
  }
  return store;
}

function createBase(options: ObjectStoreOptions): ObjectStore {
  const { storage, bucket } = options;
  if (storage === "file") {
    // Credentials mean nothing to a directory; ACCESS_KEY in the environment must not break it.
    const dir = bucket.startsWith("file://") ? bucket.slice("file://".length) : bucket;
    if (dir === "" || /^[a-z][a-z0-9+.-]*:\/\//i.test(dir)) {
      throw new UserError(`--bucket for file must be a directory, e.g. /var/jfs, got "${bucket}"`);
    }
    return new FileObjectStore(dir, { fsync: options.fsync ?? true });
  }
  if (storage === "s3") {
    return new S3ObjectStore({
      bucketUrl: bucket,
      ...defined("accessKey", options.accessKey),
      ...defined("secretKey", options.secretKey),
      ...defined("region", options.region),
      ...defined("requestTimeoutMs", options.requestTimeoutMs),
      ...defined("retriesMax", options.retriesMax),
    });
  }
  throw new UserError(`unknown storage "${storage}": use ${STORAGE_KINDS.join(" or ")}`);
}

/** `{ name: value }`, or nothing when value is undefined (exactOptionalPropertyTypes). */
function defined<K extends string, V>(name: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [name]: value } as { [P in K]?: V });
}

export { ChecksumObjectStore } from "./checksum.ts";
export { FileObjectStore } from "./file.ts";
export type { ListPage, ObjectInfo, ObjectStore } from "./interface.ts";
export { ObjectNotFoundError, ObjectStoreError } from "./interface.ts";
export { MeteredObjectStore } from "./metered.ts";
export { PrefixedObjectStore } from "./prefix.ts";
export { S3ObjectStore } from "./s3.ts";
