/**
 * Buckets and keys as VFS inodes. Top-level directories are buckets (or, with --bucket NAME, the
 * volume's root is that one bucket); a key's "/"-separated parts are directories and a file.
 * Keys that cannot be a path (empty parts, ".", "..", NUL) are refused, not mangled. Every call
 * goes through the VFS with the gateway's one identity.
 */
import { FsError } from "../errors.ts";
import { GATEWAY_KEY_BYTES_MAX } from "../limits.ts";
import { type Credentials, Errno, FileType, type Ino, ROOT_CREDENTIALS } from "../posix.ts";
import type { Vfs } from "../vfs/interface.ts";
import { s3Errors } from "./errors.ts";

const ROOT_INO = 1;
/** Temporary files of uploads in progress: hidden from listings; no key may use the prefix. */
export const TEMP_PREFIX = ".jfs-gateway-";
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function isBucketName(name: string): boolean {
  return BUCKET_NAME.test(name) && !name.includes("..") && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
}

export const isNotFound = (error: unknown) =>
  error instanceof FsError && (error.errno === Errno.ENOENT || error.errno === Errno.ENOTDIR);

export interface GatewayLayout {
  /** --bucket NAME: the volume's root is this one bucket. */
  singleBucket?: string;
}

export class Namespace {
  readonly ctx: Credentials = ROOT_CREDENTIALS;
  constructor(
    readonly vfs: Vfs,
    readonly layout: GatewayLayout,
  ) {}

  /** Bucket names and their directories' attributes, in name order. */
  async buckets(): Promise<{ name: string; ctime: number }[]> {
    if (this.layout.singleBucket !== undefined) {
      const attr = await this.vfs.getattr(this.ctx, ROOT_INO);
      return [{ name: this.layout.singleBucket, ctime: attr.ctime }];
    }
    const out: { name: string; ctime: number }[] = [];
    for (const entry of await this.readdirAll(ROOT_INO)) {
      const name = entry.name.toString("utf8");
      if (entry.type !== FileType.Directory || !isBucketName(name)) continue;
      const attr = await this.vfs.getattr(this.ctx, entry.inode);
      out.push({ name, ctime: attr.ctime });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Every entry of a directory but "." and "..". */
  async readdirAll(ino: Ino): Promise<{ name: Buffer; inode: Ino; type: FileType }[]> {
    const out: { name: Buffer; inode: Ino; type: FileType }[] = [];
    const fh = await this.vfs.opendir(this.ctx, ino);
    try {
      let cookie = 0;
      for (;;) {
        const batch = await this.vfs.readdir(this.ctx, ino, cookie, 1024, false);
        if (batch.length === 0) break;
        for (const e of batch) {
          const name = e.name.toString("latin1");
          if (name !== "." && name !== "..") out.push(e);
          cookie = e.cookie;
        }
      }
    } finally {
      await this.vfs.releasedir(this.ctx, ino, fh);
    }
    return out;
  }

  /** The bucket's directory; NoSuchBucket when there is none. */
  async bucket(name: string): Promise<Ino> {
    if (this.layout.singleBucket !== undefined) {
      if (name !== this.layout.singleBucket) throw s3Errors.noSuchBucket();
      return ROOT_INO;
    }
    if (!isBucketName(name)) throw s3Errors.noSuchBucket();
    try {
      const entry = await this.vfs.lookup(this.ctx, ROOT_INO, Buffer.from(name));
      if (entry.attr.type !== FileType.Directory) throw s3Errors.noSuchBucket();
      return entry.inode;
    } catch (error) {
      if (isNotFound(error)) throw s3Errors.noSuchBucket();
      throw error;
    }
  }

  async createBucket(name: string): Promise<void> {
    if (!isBucketName(name)) throw s3Errors.invalidBucketName();
    if (this.layout.singleBucket !== undefined) {
      if (name === this.layout.singleBucket) throw s3Errors.bucketExists();
      throw s3Errors.accessDenied(`This gateway serves one bucket: ${this.layout.singleBucket}`);
    }
    try {
      await this.vfs.mkdir(this.ctx, ROOT_INO, Buffer.from(name), 0o755, 0o022);
    } catch (error) {
      if (error instanceof FsError && error.errno === Errno.EEXIST) throw s3Errors.bucketExists();
      throw error;
    }
  }

  async deleteBucket(name: string): Promise<void> {
    await this.bucket(name);
    if (this.layout.singleBucket !== undefined) {
      throw s3Errors.accessDenied("The volume's root cannot be deleted");
    }
    await this.vfs.rmdir(this.ctx, ROOT_INO, Buffer.from(name));
  }

  /** Finds the inode of a path of parts under `ino`; undefined when a part is missing. */
  async walk(ino: Ino, parts: readonly string[]): Promise<Ino | undefined> {
    let at = ino;
    for (const part of parts) {
      try {
        at = (await this.vfs.lookup(this.ctx, at, Buffer.from(part))).inode;
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    }
    return at;
  }

  /** The directories of `parts` under `ino`, made as needed (mkdir -p). */
  async makeDirs(ino: Ino, parts: readonly string[]): Promise<Ino> {
    let at = ino;
    for (const part of parts) {
      const name = Buffer.from(part);
      try {
        const entry = await this.vfs.lookup(this.ctx, at, name);
        if (entry.attr.type !== FileType.Directory) {
          throw new FsError(Errno.EEXIST, `${part} is an object, not a prefix`);
        }
        at = entry.inode;
      } catch (error) {
        if (!isNotFound(error)) throw error;
        try {
          at = (await this.vfs.mkdir(this.ctx, at, name, 0o755, 0o022)).inode;
        } catch (raced) {
          if (!(raced instanceof FsError && raced.errno === Errno.EEXIST)) throw raced;
          at = (await this.vfs.lookup(this.ctx, at, name)).inode;
        }
      }
    }
    return at;
  }

  /** Removes the now-empty directories of `parts` (deepest first), as S3 prefixes vanish. */
  async pruneDirs(bucketIno: Ino, parts: readonly string[]): Promise<void> {
    for (let depth = parts.length; depth > 0; depth--) {
      const parent = await this.walk(bucketIno, parts.slice(0, depth - 1));
      if (parent === undefined) return;
      try {
        await this.vfs.rmdir(this.ctx, parent, Buffer.from(parts[depth - 1]!));
      } catch {
        return; // not empty (or gone): the prefix stays
      }
    }
  }
}

/** A key's parts: directories then the file's name. Throws the S3 error for keys that are not paths. */
export function keyParts(key: string): string[] {
  if (key === "") throw s3Errors.invalidArgument("The key is empty");
  if (Buffer.byteLength(key, "utf8") > GATEWAY_KEY_BYTES_MAX) throw s3Errors.keyTooLong();
  if (key.includes("\0")) throw s3Errors.invalidArgument("A key cannot hold NUL");
  const parts = key.split("/");
  const last = parts.length - 1;
  for (const [i, part] of parts.entries()) {
    // A trailing "/" is a folder marker ("dir/"): an empty last part.
    if (part === "" && i === last && i > 0) continue;
    if (part === "" || part === "." || part === "..") {
      throw s3Errors.invalidArgument(`A key cannot have an empty, "." or ".." part: ${key}`);
    }
    if (part.startsWith(TEMP_PREFIX)) {
      throw s3Errors.invalidArgument(`A key part cannot start with ${TEMP_PREFIX}`);
    }
  }
  return parts;
}
