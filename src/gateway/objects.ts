/**
 * Objects as files: PUT writes a hidden temporary file in the key's directory and renames it
 * over the key once the whole body has arrived and passed its checks, so a reader (S3, NFS or
 * FUSE) sees the old object or the new one, never part of one, and a refused upload leaves
 * nothing. The ETag (MD5 of the body), Content-Type and x-amz-meta-* live in xattrs.
 */
import { createHash, randomBytes } from "node:crypto";
import { FsError } from "../errors.ts";
import { GATEWAY_READ_BYTES } from "../limits.ts";
import { type Attr, Errno, FileType, type Ino, OpenFlags } from "../posix.ts";
import { S3Error, s3Errors } from "./errors.ts";
import { isNotFound, keyParts, type Namespace, TEMP_PREFIX } from "./namespace.ts";

const XATTR_ETAG = "user.s3.etag";
const XATTR_CONTENT_TYPE = "user.s3.content-type";
const XATTR_META = "user.s3.meta.";
export const DEFAULT_CONTENT_TYPE = "binary/octet-stream";
const EMPTY_MD5 = createHash("md5").digest("hex");

export interface ObjectMeta {
  contentType?: string;
  /** x-amz-meta-* without the prefix, names in lower case. */
  userMeta: Map<string, string>;
}

export interface WriteChecks {
  /** The Content-MD5 header (base64): the body must have it. */
  contentMd5?: string;
  /** The ETag to record instead of the body's MD5 (a multipart upload's "MD5-N"). */
  etag?: string;
}

export interface ObjectInfo {
  ino: Ino;
  attr: Attr;
  /** Quoted, as in the ETag header. */
  etag: string;
  contentType: string;
  userMeta: Map<string, string>;
  lastModified: Date;
}

/** The metadata a PUT carries in its headers. */
export function metaOfHeaders(headers: Headers): ObjectMeta {
  const userMeta = new Map<string, string>();
  for (const [name, value] of headers) {
    if (name.startsWith("x-amz-meta-")) userMeta.set(name.slice("x-amz-meta-".length), value);
  }
  const contentType = headers.get("content-type") ?? undefined;
  return contentType === undefined ? { userMeta } : { contentType, userMeta };
}

/** What the ETag xattr is bound to: a change through NFS or FUSE makes it stale. */
const stamp = (attr: Attr) => `${attr.mtime}.${attr.mtimeNsec}:${attr.size}`;

export class Objects {
  constructor(readonly ns: Namespace) {}

  get #vfs() {
    return this.ns.vfs;
  }
  get #ctx() {
    return this.ns.ctx;
  }

  /** The file of a key, or NoSuchKey. A "dir/" key names the directory (a folder marker). */
  async find(bucket: string, key: string): Promise<{ ino: Ino; attr: Attr }> {
    const bucketIno = await this.ns.bucket(bucket);
    const parts = keyParts(key);
    const marker = parts[parts.length - 1] === "";
    const ino = await this.ns.walk(bucketIno, marker ? parts.slice(0, -1) : parts);
    if (ino === undefined) throw s3Errors.noSuchKey();
    const attr = await this.#vfs.getattr(this.#ctx, ino);
    const wanted = marker ? FileType.Directory : FileType.File;
    if (attr.type !== wanted) throw s3Errors.noSuchKey();
    return { ino, attr };
  }

  async info(bucket: string, key: string): Promise<ObjectInfo> {
    const { ino, attr } = await this.find(bucket, key);
    return this.infoOf(ino, attr);
  }

  async infoOf(ino: Ino, attr: Attr): Promise<ObjectInfo> {
    const names = attr.type === FileType.File ? await this.#vfs.listxattr(this.#ctx, ino) : [];
    const read = async (name: string) =>
      names.includes(name)
        ? (await this.#vfs.getxattr(this.#ctx, ino, name)).toString()
        : undefined;
    let etag: string | undefined;
    const recorded = await read(XATTR_ETAG);
    if (recorded !== undefined) {
      const [md5, at] = recorded.split(" ");
      if (at === stamp(attr)) etag = md5;
    }
    // Written or changed by something else than the gateway: not an MD5, and marked so ("-").
    etag ??=
      attr.type === FileType.Directory
        ? EMPTY_MD5
        : `${createHash("md5")
            .update(`${ino}:${stamp(attr)}`)
            .digest("hex")}-1`;
    const userMeta = new Map<string, string>();
    for (const name of names) {
      if (name.startsWith(XATTR_META))
        userMeta.set(name.slice(XATTR_META.length), (await read(name))!);
    }
    return {
      ino,
      attr,
      etag: `"${etag}"`,
      contentType: (await read(XATTR_CONTENT_TYPE)) ?? DEFAULT_CONTENT_TYPE,
      userMeta,
      // Milliseconds, not S3's whole seconds: `aws s3 sync` re-sends a file whose local mtime
      // is newer than LastModified, which a file written in the second of its upload would be.
      lastModified: new Date(attr.mtime * 1000 + Math.floor(attr.mtimeNsec / 1e6)),
    };
  }

  /** Writes an object from a body; returns its info. Nothing is visible unless all went well. */
  async put(
    bucket: string,
    key: string,
    body: AsyncIterable<Uint8Array>,
    meta: ObjectMeta,
    checks: WriteChecks = {},
  ): Promise<ObjectInfo> {
    const bucketIno = await this.ns.bucket(bucket);
    const parts = keyParts(key);
    const name = parts[parts.length - 1]!;
    if (name === "") {
      // A folder marker: the directory itself; its body must be empty.
      for await (const piece of body) {
        if (piece.length > 0) {
          throw s3Errors.invalidArgument("A folder marker (a key ending in /) holds no data");
        }
      }
      const dir = await this.ns.makeDirs(bucketIno, parts.slice(0, -1));
      return this.infoOf(dir, await this.#vfs.getattr(this.#ctx, dir));
    }
    const dir = await this.ns.makeDirs(bucketIno, parts.slice(0, -1));
    try {
      return await this.writeInto(dir, name, body, meta, checks);
    } catch (error) {
      if (
        error instanceof FsError &&
        (error.errno === Errno.EISDIR || error.errno === Errno.ENOTEMPTY)
      ) {
        throw new S3Error("InvalidRequest", 409, `${key} is a prefix holding other objects`);
      }
      throw error;
    }
  }

  /**
   * Writes `name` in directory `dir` from a body, through a hidden temporary file renamed over
   * it once the body is whole and checked.
   */
  async writeInto(
    dir: Ino,
    name: string,
    body: AsyncIterable<Uint8Array>,
    meta: ObjectMeta,
    checks: WriteChecks = {},
  ): Promise<ObjectInfo> {
    const temp = Buffer.from(`${TEMP_PREFIX}${randomBytes(8).toString("hex")}`);
    const flags = OpenFlags.WRONLY | OpenFlags.CREAT | OpenFlags.EXCL;
    const created = await this.#vfs.create(this.#ctx, dir, temp, 0o644, 0o022, flags);
    let open = true;
    try {
      const md5 = createHash("md5");
      let offset = 0;
      for await (const piece of body) {
        md5.update(piece);
        let done = 0;
        while (done < piece.length) {
          const data = piece.subarray(done);
          done += await this.#vfs.write(this.#ctx, created.inode, created.fh, offset + done, data);
        }
        offset += piece.length;
      }
      const digest = md5.digest();
      if (checks.contentMd5 !== undefined && digest.toString("base64") !== checks.contentMd5) {
        throw s3Errors.badDigest();
      }
      await this.#vfs.flush(this.#ctx, created.inode, created.fh);
      open = false;
      await this.#vfs.release(this.#ctx, created.inode, created.fh);
      const attr = await this.#vfs.getattr(this.#ctx, created.inode);
      const etag = checks.etag ?? digest.toString("hex");
      await this.#setMeta(created.inode, meta, `${etag} ${stamp(attr)}`);
      await this.#vfs.rename(this.#ctx, dir, temp, dir, Buffer.from(name), 0);
      return this.infoOf(created.inode, await this.#vfs.getattr(this.#ctx, created.inode));
    } catch (error) {
      if (open) {
        await this.#vfs.release(this.#ctx, created.inode, created.fh).catch(() => undefined);
      }
      await this.#vfs.unlink(this.#ctx, dir, temp).catch(() => undefined);
      throw error;
    }
  }

  async #setMeta(ino: Ino, meta: ObjectMeta, etag: string): Promise<void> {
    const set = (name: string, value: string) =>
      this.#vfs.setxattr(this.#ctx, ino, name, Buffer.from(value), 0);
    await set(XATTR_ETAG, etag);
    if (meta.contentType !== undefined) await set(XATTR_CONTENT_TYPE, meta.contentType);
    for (const [name, value] of meta.userMeta) await set(`${XATTR_META}${name}`, value);
  }

  /** The bytes [start, end) of a file, read as the client takes them. */
  async stream(ino: Ino, start: number, end: number): Promise<ReadableStream<Uint8Array>> {
    const vfs = this.#vfs;
    const ctx = this.#ctx;
    const { fh } = await vfs.open(ctx, ino, OpenFlags.RDONLY);
    let offset = start;
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await vfs.release(ctx, ino, fh);
    };
    return new ReadableStream<Uint8Array>({
      type: "bytes",
      async pull(controller) {
        try {
          if (offset >= end) {
            await release();
            controller.close();
            return;
          }
          const size = Math.min(GATEWAY_READ_BYTES, end - offset);
          const data = await vfs.read(ctx, ino, fh, offset, size);
          if (data.length === 0) {
            // The file shrank under us: end early rather than hang.
            await release();
            controller.close();
            return;
          }
          offset += data.length;
          controller.enqueue(new Uint8Array(data));
        } catch (error) {
          await release().catch(() => undefined);
          controller.error(error);
        }
      },
      async cancel() {
        await release();
      },
    });
  }

  /** The whole file as a body, for CopyObject. */
  async *bytesOf(ino: Ino, size: number): AsyncIterable<Uint8Array> {
    const reader = (await this.stream(ino, 0, size)).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  }

  /** S3 DELETE: absent keys are fine; empty prefixes left behind go too. */
  async delete(bucket: string, key: string): Promise<void> {
    const bucketIno = await this.ns.bucket(bucket);
    const parts = keyParts(key);
    const marker = parts[parts.length - 1] === "";
    const path = marker ? parts.slice(0, -1) : parts;
    const parent = await this.ns.walk(bucketIno, path.slice(0, -1));
    if (parent === undefined) return;
    const name = Buffer.from(path[path.length - 1]!);
    try {
      if (marker) await this.#vfs.rmdir(this.#ctx, parent, name);
      else {
        const entry = await this.#vfs.lookup(this.#ctx, parent, name);
        if (entry.attr.type === FileType.Directory) return; // a prefix, not an object
        await this.#vfs.unlink(this.#ctx, parent, name);
      }
    } catch (error) {
      if (isNotFound(error)) return;
      if (error instanceof FsError && error.errno === Errno.ENOTEMPTY) return;
      throw error;
    }
    await this.ns.pruneDirs(bucketIno, path.slice(0, -1));
  }
}
