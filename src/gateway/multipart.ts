/**
 * Multipart uploads. An upload is a hidden directory in the bucket's root
 * (TEMP_PREFIX + "mpu-" + id) holding one file per part and, in xattrs, the key and the
 * metadata given at creation; it lives in the volume, so it survives a gateway restart and any
 * gateway of the volume can continue it. Complete writes the parts, in order, into the key as
 * one PUT does (temporary file, renamed once whole) and removes the upload.
 */
import { createHash, randomBytes } from "node:crypto";
import { GATEWAY_PART_BYTES_MIN, GATEWAY_PARTS_MAX } from "../limits.ts";
import { FileType, type Ino } from "../posix.ts";
import { S3Error, s3Errors } from "./errors.ts";
import { isNotFound, keyParts, type Namespace, TEMP_PREFIX } from "./namespace.ts";
import type { ObjectInfo, ObjectMeta, Objects } from "./objects.ts";

const UPLOAD_PREFIX = `${TEMP_PREFIX}mpu-`;
const XATTR_KEY = "user.s3.upload.key";
const XATTR_TYPE = "user.s3.upload.content-type";
const XATTR_META = "user.s3.upload.meta";
const UPLOAD_ID = /^[0-9a-f]{32}$/;

export const noSuchUpload = () =>
  new S3Error(
    "NoSuchUpload",
    404,
    "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
  );

const partName = (n: number) => `part-${String(n).padStart(5, "0")}`;

export interface PartInfo {
  number: number;
  etag: string;
  size: number;
  lastModified: Date;
  ino: Ino;
}

export function partNumberOf(text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || n < 1 || n > GATEWAY_PARTS_MAX) {
    throw s3Errors.invalidArgument(
      `Part number must be an integer between 1 and ${GATEWAY_PARTS_MAX}, inclusive`,
    );
  }
  return n;
}

export class Multipart {
  constructor(
    readonly ns: Namespace,
    readonly objects: Objects,
  ) {}

  get #vfs() {
    return this.ns.vfs;
  }
  get #ctx() {
    return this.ns.ctx;
  }

  async create(bucket: string, key: string, meta: ObjectMeta): Promise<string> {
    const bucketIno = await this.ns.bucket(bucket);
    keyParts(key);
    const id = randomBytes(16).toString("hex");
    const dir = await this.#vfs.mkdir(
      this.#ctx,
      bucketIno,
      Buffer.from(UPLOAD_PREFIX + id),
      0o700,
      0,
    );
    const set = (name: string, value: string) =>
      this.#vfs.setxattr(this.#ctx, dir.inode, name, Buffer.from(value), 0);
    await set(XATTR_KEY, key);
    if (meta.contentType !== undefined) await set(XATTR_TYPE, meta.contentType);
    await set(XATTR_META, JSON.stringify([...meta.userMeta]));
    return id;
  }

  /** The upload's directory, checked to be for this key. */
  async #upload(
    bucket: string,
    key: string,
    id: string | undefined,
  ): Promise<{ bucketIno: Ino; dir: Ino }> {
    const bucketIno = await this.ns.bucket(bucket);
    if (id === undefined || !UPLOAD_ID.test(id)) throw noSuchUpload();
    let dir: Ino;
    try {
      dir = (await this.#vfs.lookup(this.#ctx, bucketIno, Buffer.from(UPLOAD_PREFIX + id))).inode;
    } catch (error) {
      if (isNotFound(error)) throw noSuchUpload();
      throw error;
    }
    const owner = (await this.#vfs.getxattr(this.#ctx, dir, XATTR_KEY)).toString();
    if (owner !== key) throw noSuchUpload();
    return { bucketIno, dir };
  }

  async uploadPart(
    bucket: string,
    key: string,
    id: string | undefined,
    partNumber: number,
    body: AsyncIterable<Uint8Array>,
    contentMd5: string | undefined,
  ): Promise<ObjectInfo> {
    const { dir } = await this.#upload(bucket, key, id);
    const checks = contentMd5 === undefined ? {} : { contentMd5 };
    return this.objects.writeInto(dir, partName(partNumber), body, { userMeta: new Map() }, checks);
  }

  async parts(bucket: string, key: string, id: string | undefined): Promise<PartInfo[]> {
    const { dir } = await this.#upload(bucket, key, id);
    return this.#partsOf(dir);
  }

  async #partsOf(dir: Ino): Promise<PartInfo[]> {
    const out: PartInfo[] = [];
    for (const e of await this.ns.readdirAll(dir)) {
      const m = /^part-(\d{5})$/.exec(e.name.toString());
      if (m === null || e.type !== FileType.File) continue;
      const attr = await this.#vfs.getattr(this.#ctx, e.inode);
      const info = await this.objects.infoOf(e.inode, attr);
      out.push({
        number: Number(m[1]),
        etag: info.etag,
        size: attr.size,
        lastModified: info.lastModified,
        ino: e.inode,
      });
    }
    return out.sort((a, b) => a.number - b.number);
  }

  async complete(
    bucket: string,
    key: string,
    id: string | undefined,
    wanted: { number: number; etag: string }[],
  ): Promise<ObjectInfo> {
    const { bucketIno, dir } = await this.#upload(bucket, key, id);
    if (wanted.length === 0) throw s3Errors.malformedXml();
    const have = new Map((await this.#partsOf(dir)).map((p) => [p.number, p]));
    const chosen: PartInfo[] = [];
    for (const [i, w] of wanted.entries()) {
      if (i > 0 && w.number <= wanted[i - 1]!.number) {
        throw new S3Error(
          "InvalidPartOrder",
          400,
          "The list of parts was not in ascending order. Parts must be ordered by part number.",
        );
      }
      const part = have.get(w.number);
      const etag = w.etag.startsWith('"') ? w.etag : `"${w.etag}"`;
      if (part === undefined || part.etag !== etag) {
        throw new S3Error(
          "InvalidPart",
          400,
          `One or more of the specified parts could not be found: part ${w.number}`,
        );
      }
      chosen.push(part);
    }
    // Checked once every part is known to exist: a missing part is the error to report first.
    if (chosen.slice(0, -1).some((p) => p.size < GATEWAY_PART_BYTES_MIN)) {
      throw new S3Error(
        "EntityTooSmall",
        400,
        "Your proposed upload is smaller than the minimum allowed object size.",
      );
    }
    const md5s = chosen.map((p) => Buffer.from(p.etag.slice(1, -1), "hex"));
    const etag = `${createHash("md5").update(Buffer.concat(md5s)).digest("hex")}-${chosen.length}`;
    const objects = this.objects;
    async function* body() {
      for (const part of chosen) yield* objects.bytesOf(part.ino, part.size);
    }
    const read = async (name: string) => {
      try {
        return (await this.#vfs.getxattr(this.#ctx, dir, name)).toString();
      } catch {
        return undefined;
      }
    };
    const contentType = await read(XATTR_TYPE);
    const userMeta = new Map<string, string>(JSON.parse((await read(XATTR_META)) ?? "[]"));
    const meta: ObjectMeta = contentType === undefined ? { userMeta } : { contentType, userMeta };
    const info = await this.objects.put(bucket, key, body(), meta, { etag });
    await this.#remove(bucketIno, dir, id!);
    return info;
  }

  async abort(bucket: string, key: string, id: string | undefined): Promise<void> {
    const { bucketIno, dir } = await this.#upload(bucket, key, id);
    await this.#remove(bucketIno, dir, id!);
  }

  async #remove(bucketIno: Ino, dir: Ino, id: string): Promise<void> {
    for (const e of await this.ns.readdirAll(dir)) {
      await this.#vfs.unlink(this.#ctx, dir, e.name).catch(() => undefined);
    }
    await this.#vfs.rmdir(this.#ctx, bucketIno, Buffer.from(UPLOAD_PREFIX + id));
  }

  /** Uploads in progress in a bucket, by key then id. */
  async uploads(
    bucket: string,
    prefix: string,
  ): Promise<{ key: string; id: string; initiated: Date }[]> {
    const bucketIno = await this.ns.bucket(bucket);
    const out: { key: string; id: string; initiated: Date }[] = [];
    for (const e of await this.ns.readdirAll(bucketIno)) {
      const name = e.name.toString();
      if (!name.startsWith(UPLOAD_PREFIX) || e.type !== FileType.Directory) continue;
      const key = (
        await this.#vfs.getxattr(this.#ctx, e.inode, XATTR_KEY).catch(() => undefined)
      )?.toString();
      if (key === undefined || !key.startsWith(prefix)) continue;
      const attr = await this.#vfs.getattr(this.#ctx, e.inode);
      out.push({
        key,
        id: name.slice(UPLOAD_PREFIX.length),
        initiated: new Date(attr.ctime * 1000),
      });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id < b.id ? -1 : 1));
  }
}
