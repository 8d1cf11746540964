/**
 * The VFS against the Linux kernel's own file system as an oracle: the same seeded random
 * operations run through JfsVfs and through node:fs on a local directory; every outcome (errno
 * or success), every read and the final trees must agree.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FsError } from "../../src/errors.ts";
import { ROOT_CREDENTIALS as ctx, FileType, type Ino } from "../../src/meta/interface.ts";
import { Errno } from "../../src/posix.ts";
import { openRuntime, type Runtime } from "../../src/volume/runtime.ts";
import { jfs } from "../cli/harness.ts";
import { rng } from "../meta/model.ts";

const NAMES = ["a", "b", "c"];
const O_RDWR = 2;
let dir: string;
let rt: Runtime;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "jfs-oracle-"));
  const meta = `sqlite3://${dir}/meta.db`;
  const f = await jfs([
    "format",
    meta,
    "oracle",
    "--bucket",
    join(dir, "data"),
    "--block-size",
    "64",
    "--trash-days",
    "0",
  ]);
  expect(f.code).toBe(0);
  rt = await openRuntime(meta, { cacheDir: join(dir, "cache") }, "oracle");
});

afterAll(async () => {
  await rt?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Outcome = string;

function errnoName(code: number): string {
  return Object.entries(Errno).find(([, c]) => c === code)?.[0] ?? String(code);
}

async function viaVfs(p: Promise<unknown>): Promise<Outcome> {
  try {
    const v = await p;
    return v instanceof Buffer ? `ok:${v.toString("hex")}` : "ok";
  } catch (error) {
    if (error instanceof FsError) return errnoName(error.errno);
    throw error;
  }
}

async function viaFs(p: Promise<unknown>): Promise<Outcome> {
  try {
    const v = await p;
    return v instanceof Buffer ? `ok:${v.toString("hex")}` : "ok";
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("E")) return code;
    throw error;
  }
}

/**
 * Resolves a path through the VFS as the kernel would (path walking is the front end's job).
 * The only symlink target ever made, "x/y", never exists, so following a symlink is ENOENT.
 */
async function resolve(path: string[]): Promise<{ parent: Ino; name: Buffer }> {
  let parent: Ino = 1;
  for (const part of path.slice(0, -1)) {
    const e = await rt.vfs.lookup(ctx, parent, Buffer.from(part));
    if (e.attr.type === FileType.Symlink) throw new FsError(Errno.ENOENT, "dangling symlink");
    if (e.attr.type !== FileType.Directory) throw new FsError(Errno.ENOTDIR, "path component");
    parent = e.inode;
  }
  return { parent, name: Buffer.from(path.at(-1)!) };
}

async function vfsIno(path: string[], follow = true): Promise<Ino> {
  const { parent, name } = await resolve(path);
  const e = await rt.vfs.lookup(ctx, parent, name);
  if (follow && e.attr.type === FileType.Symlink)
    throw new FsError(Errno.ENOENT, "dangling symlink");
  return e.inode;
}

async function vfsWrite(path: string[], offset: number, data: Buffer): Promise<void> {
  const ino = await vfsIno(path);
  const { fh } = await rt.vfs.open(ctx, ino, O_RDWR);
  try {
    await rt.vfs.write(ctx, ino, fh, offset, data);
  } finally {
    await rt.vfs.release(ctx, ino, fh);
  }
}

async function vfsRead(path: string[]): Promise<Buffer> {
  const ino = await vfsIno(path);
  const { fh, attr } = await rt.vfs.open(ctx, ino, 0);
  try {
    return await rt.vfs.read(ctx, ino, fh, 0, attr.size + 10);
  } finally {
    await rt.vfs.release(ctx, ino, fh);
  }
}

async function fsWrite(path: string, offset: number, data: Buffer): Promise<void> {
  const f = await fs.open(path, "r+");
  try {
    await f.write(data, 0, data.length, offset);
  } finally {
    await f.close();
  }
}

/** The tree as text: path, type, size (files), nlink (non-dirs), mode, link target. */
async function vfsTree(): Promise<string[]> {
  const out: string[] = [];
  const stack: Array<[Ino, string]> = [[1, ""]];
  while (stack.length > 0) {
    const [ino, path] = stack.pop()!;
    for (const e of await rt.vfs.readdir(ctx, ino, 0, 1000, true)) {
      const name = e.name.toString();
      if (name === "." || name === "..") continue;
      const a = e.attr!;
      const p = `${path}/${name}`;
      const target =
        a.type === FileType.Symlink ? (await rt.vfs.readlink(ctx, e.inode)).toString() : "";
      const kind = a.type === FileType.Directory ? "d" : a.type === FileType.Symlink ? "l" : "f";
      out.push(
        `${p} ${kind} ${kind === "f" ? a.size : ""} ${kind === "d" ? "" : a.nlink} ${(a.mode & 0o777).toString(8)} ${target}`,
      );
      if (a.type === FileType.Directory) stack.push([e.inode, p]);
    }
  }
  return out.sort();
}

async function fsTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const stack: string[] = [""];
  while (stack.length > 0) {
    const path = stack.pop()!;
    for (const name of await fs.readdir(join(root, path))) {
      const p = `${path}/${name}`;
      const s = await fs.lstat(join(root, p));
      const kind = s.isDirectory() ? "d" : s.isSymbolicLink() ? "l" : "f";
      const target = kind === "l" ? await fs.readlink(join(root, p)) : "";
      const mode = kind === "l" ? "777" : (s.mode & 0o777).toString(8);
      out.push(
        `${p} ${kind} ${kind === "f" ? s.size : ""} ${kind === "d" ? "" : s.nlink} ${mode} ${target}`,
      );
      if (kind === "d") stack.push(p);
    }
  }
  return out.sort();
}

describe("VFS vs node:fs on a local directory", () => {
  for (const seed of [99, 100, 101]) {
    test(`seeded random operations agree step by step, and the trees match (seed ${seed})`, async () => {
      await fs.rm(join(dir, "local"), { recursive: true, force: true });
      await fs.mkdir(join(dir, "local"));
      for (const e of await rt.vfs.readdir(ctx, 1, 0, 100, false)) {
        const name = e.name.toString();
        if (name !== "." && name !== "..") await removeTree(1, e.name);
      }
      const rand = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const randomPath = () => {
        const depth = 1 + Math.floor(rand() * 3);
        return Array.from({ length: depth }, () => pick(NAMES));
      };
      const local = (p: string[]) => join(dir, "local", ...p);
      for (let step = 0; step < 700; step++) {
        const p = randomPath();
        const op = pick([
          "mkdir",
          "create",
          "write",
          "read",
          "truncate",
          "unlink",
          "rmdir",
          "rename",
          "link",
          "symlink",
          "chmod",
        ]);
        let got: Outcome;
        let want: Outcome;
        if (op === "mkdir") {
          got = await viaVfs(
            resolve(p).then(({ parent, name }) => rt.vfs.mkdir(ctx, parent, name, 0o755, 0)),
          );
          want = await viaFs(fs.mkdir(local(p), 0o755));
        } else if (op === "create") {
          got = await viaVfs(
            resolve(p).then(async ({ parent, name }) => {
              const r = await rt.vfs.create(ctx, parent, name, 0o644, 0, O_RDWR);
              await rt.vfs.release(ctx, r.inode, r.fh);
            }),
          );
          want = await viaFs(fs.writeFile(local(p), "", { flag: "wx", mode: 0o644 }));
        } else if (op === "write") {
          const offset = Math.floor(rand() * 200_000);
          const data = Buffer.alloc(1 + Math.floor(rand() * 100_000), step & 0xff);
          got = await viaVfs(vfsWrite(p, offset, data));
          want = await viaFs(fsWrite(local(p), offset, data));
        } else if (op === "read") {
          got = await viaVfs(vfsRead(p));
          want = await viaFs(fs.readFile(local(p)));
        } else if (op === "truncate") {
          const size = Math.floor(rand() * 300_000);
          got = await viaVfs(vfsIno(p).then((ino) => rt.vfs.setattr(ctx, ino, { size })));
          want = await viaFs(fs.truncate(local(p), size));
        } else if (op === "unlink") {
          got = await viaVfs(
            resolve(p).then(({ parent, name }) => rt.vfs.unlink(ctx, parent, name)),
          );
          want = await viaFs(fs.unlink(local(p)));
        } else if (op === "rmdir") {
          got = await viaVfs(
            resolve(p).then(({ parent, name }) => rt.vfs.rmdir(ctx, parent, name)),
          );
          want = await viaFs(fs.rmdir(local(p)));
        } else if (op === "rename") {
          const q = randomPath();
          got = await viaVfs(
            (async () => {
              const s = await resolve(p);
              const d = await resolve(q);
              return rt.vfs.rename(ctx, s.parent, s.name, d.parent, d.name, 0);
            })(),
          );
          want = await viaFs(fs.rename(local(p), local(q)));
        } else if (op === "link") {
          const q = randomPath();
          got = await viaVfs(
            (async () => {
              // In the kernel's order: the old path is resolved before the new one.
              const ino = await vfsIno(p, false);
              const d = await resolve(q);
              return rt.vfs.link(ctx, ino, d.parent, d.name);
            })(),
          );
          want = await viaFs(fs.link(local(p), local(q)));
        } else if (op === "symlink") {
          got = await viaVfs(
            resolve(p).then(({ parent, name }) =>
              rt.vfs.symlink(ctx, parent, name, Buffer.from("x/y")),
            ),
          );
          want = await viaFs(fs.symlink("x/y", local(p)));
        } else {
          const mode = pick([0o600, 0o644, 0o755, 0o700]);
          got = await viaVfs(vfsIno(p).then((ino) => rt.vfs.setattr(ctx, ino, { mode })));
          want = await viaFs(fs.chmod(local(p), mode));
        }
        // node:fs follows a symlink for link/chmod/truncate/write; both sides name the same
        // error (ENOENT: "x/y" dangles), so outcomes stay comparable.
        expect({ step, op, path: p.join("/"), got }).toEqual({
          step,
          op,
          path: p.join("/"),
          got: want,
        });
      }
      expect(await vfsTree()).toEqual(await fsTree(join(dir, "local")));
    }, 240_000);
  }
});

/** rm -rf through the VFS (without recursion). */
async function removeTree(parent: Ino, name: Buffer): Promise<void> {
  const stack: Array<[Ino, Buffer, boolean]> = [[parent, name, false]];
  while (stack.length > 0) {
    const [p, n, emptied] = stack.pop()!;
    const e = await rt.vfs.lookup(ctx, p, n);
    if (e.attr.type !== FileType.Directory) {
      await rt.vfs.unlink(ctx, p, n);
    } else if (emptied) {
      await rt.vfs.rmdir(ctx, p, n);
    } else {
      stack.push([p, n, true]);
      for (const c of await rt.vfs.readdir(ctx, e.inode, 0, 1000, false)) {
        const cn = c.name.toString();
        if (cn !== "." && cn !== "..") stack.push([e.inode, c.name, false]);
      }
    }
  }
}
