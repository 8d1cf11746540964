/**
 * Where `jfs bench` runs: a directory (a FUSE or NFS mount, or any local path) through the
 * kernel, or a volume straight through the VFS (no front end in the path).
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { fsError } from "../errors.ts";
import { type Credentials, FileType, type Ino, ROOT_CREDENTIALS } from "../meta/interface.ts";
import { OpenFlags } from "../posix.ts";
import type { Vfs } from "../vfs/interface.ts";

export interface BenchTarget {
  readonly description: string;
  /** Writes `sizeBytes` in `ioBytes` pieces and closes (flushes) the file. */
  write(
    name: string,
    sizeBytes: number,
    ioBytes: number,
    onIo: (bytes: number) => void,
  ): Promise<void>;
  read(name: string, ioBytes: number, onIo: (bytes: number) => void): Promise<void>;
  stat(name: string): Promise<void>;
  remove(name: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** A reusable buffer of random bytes, so data generation never dominates. */
function payload(bytes: number): Buffer {
  return randomBytes(bytes);
}

export async function pathTarget(dir: string): Promise<BenchTarget> {
  const root = join(dir, `__jfs_bench_${randomBytes(4).toString("hex")}`);
  await mkdir(root);
  return {
    description: root,
    async write(name, sizeBytes, ioBytes, onIo) {
      const data = payload(ioBytes);
      const f = await open(join(root, name), "w");
      try {
        for (let at = 0; at < sizeBytes; at += ioBytes) {
          const n = Math.min(ioBytes, sizeBytes - at);
          await f.write(data, 0, n, at);
          onIo(n);
        }
      } finally {
        await f.close();
      }
    },
    async read(name, ioBytes, onIo) {
      const buffer = Buffer.allocUnsafe(ioBytes);
      const f = await open(join(root, name), "r");
      try {
        for (let at = 0; ; ) {
          const { bytesRead } = await f.read(buffer, 0, ioBytes, at);
          if (bytesRead === 0) break;
          at += bytesRead;
          onIo(bytesRead);
        }
      } finally {
        await f.close();
      }
    },
    async stat(name) {
      await stat(join(root, name));
    },
    async remove(name) {
      await rm(join(root, name));
    },
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };
}

export async function vfsTarget(
  vfs: Vfs,
  ctx: Credentials = ROOT_CREDENTIALS,
): Promise<BenchTarget> {
  const dirName = Buffer.from(`__jfs_bench_${randomBytes(4).toString("hex")}`);
  const dir = (await vfs.mkdir(ctx, 1, dirName, 0o755, 0)).inode;
  const inodes = new Map<string, Ino>();
  const lookup = async (name: string): Promise<Ino> => {
    const known = inodes.get(name);
    if (known !== undefined) return known;
    const e = await vfs.lookup(ctx, dir, Buffer.from(name));
    if (e.attr.type !== FileType.File) throw fsError("EISDIR");
    return e.inode;
  };
  return {
    description: `/${dirName.toString()} in volume ${vfs.format.name}`,
    async write(name, sizeBytes, ioBytes, onIo) {
      const data = payload(ioBytes);
      const { inode, fh } = await vfs.create(
        ctx,
        dir,
        Buffer.from(name),
        0o644,
        0,
        OpenFlags.WRONLY,
      );
      inodes.set(name, inode);
      try {
        for (let at = 0; at < sizeBytes; at += ioBytes) {
          const n = Math.min(ioBytes, sizeBytes - at);
          await vfs.write(ctx, inode, fh, at, n === ioBytes ? data : data.subarray(0, n));
          onIo(n);
        }
        await vfs.flush(ctx, inode, fh);
      } finally {
        await vfs.release(ctx, inode, fh);
      }
    },
    async read(name, ioBytes, onIo) {
      const inode = await lookup(name);
      const { fh } = await vfs.open(ctx, inode, OpenFlags.RDONLY);
      try {
        for (let at = 0; ; ) {
          const bytes = await vfs.read(ctx, inode, fh, at, ioBytes);
          if (bytes.length === 0) break;
          at += bytes.length;
          onIo(bytes.length);
        }
      } finally {
        await vfs.release(ctx, inode, fh);
      }
    },
    async stat(name) {
      await vfs.lookup(ctx, dir, Buffer.from(name));
    },
    async remove(name) {
      await vfs.unlink(ctx, dir, Buffer.from(name));
      inodes.delete(name);
    },
    async cleanup() {
      for (const name of [...inodes.keys()]) await vfs.unlink(ctx, dir, Buffer.from(name));
      await vfs.rmdir(ctx, 1, dirName);
    },
  };
}
