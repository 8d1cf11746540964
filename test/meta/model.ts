/**
 * Model-based test of the namespace: long seeded random sequences of operations run against
 * BaseMeta and against a small in-memory model; every outcome (success or errno) must agree,
 * and the whole tree is compared at intervals and at the end.
 */
import { expect } from "bun:test";
import { FsError } from "../../src/errors.ts";
import { ROOT_INODE } from "../../src/limits.ts";
import type { BaseMeta } from "../../src/meta/base.ts";
import { FileType, RenameFlags } from "../../src/meta/interface.ts";
import { Errno, type ErrnoName } from "../../src/posix.ts";

const ctx = { uid: 0, gid: 0, groups: [], pid: 1 };
const NAMES = ["a", "b", "c", "d", "e"];

interface Node {
  type: FileType;
  nlink: number;
  size: number;
  target?: string;
  children?: Map<string, number>;
  parent: number;
}

/** Mulberry32: small, seedable, good enough to drive a test. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = "ok" | ErrnoName;

class Model {
  readonly nodes = new Map<number, Node>([
    [ROOT_INODE, { type: FileType.Directory, nlink: 2, size: 0, children: new Map(), parent: 1 }],
  ]);

  dir(ino: number): Map<string, number> {
    const c = this.nodes.get(ino)?.children;
    if (!c) throw new Error(`model: ${ino} is not a directory`);
    return c;
  }

  isInside(ino: number, ancestor: number): boolean {
    for (let cur = ino; ; cur = this.nodes.get(cur)!.parent) {
      if (cur === ancestor) return true;
      if (cur === ROOT_INODE) return false;
    }
  }

  add(parent: number, name: string, ino: number, node: Node): void {
    this.nodes.set(ino, node);
    this.dir(parent).set(name, ino);
    if (node.type === FileType.Directory) this.nodes.get(parent)!.nlink++;
  }

  dropLink(ino: number): void {
    const node = this.nodes.get(ino)!;
    node.nlink--;
    if (node.type === FileType.Directory || node.nlink === 0) this.nodes.delete(ino);
  }

  create(parent: number, name: string, type: FileType, ino: () => number): Outcome {
    if (this.dir(parent).has(name)) return "EEXIST";
    const isDir = type === FileType.Directory;
    this.add(parent, name, ino(), {
      type,
      nlink: isDir ? 2 : 1,
      size: type === FileType.Symlink ? 6 : 0,
      parent,
      ...(isDir ? { children: new Map() } : {}),
      ...(type === FileType.Symlink ? { target: "target" } : {}),
    });
    return "ok";
  }

  unlink(parent: number, name: string): Outcome {
    const ino = this.dir(parent).get(name);
    if (ino === undefined) return "ENOENT";
    if (this.nodes.get(ino)!.type === FileType.Directory) return "EISDIR";
    this.dir(parent).delete(name);
    this.dropLink(ino);
    return "ok";
  }

  rmdir(parent: number, name: string): Outcome {
    const ino = this.dir(parent).get(name);
    if (ino === undefined) return "ENOENT";
    const node = this.nodes.get(ino)!;
    if (node.type !== FileType.Directory) return "ENOTDIR";
    if (node.children!.size > 0) return "ENOTEMPTY";
    this.dir(parent).delete(name);
    this.nodes.get(parent)!.nlink--;
    this.nodes.delete(ino);
    return "ok";
  }

  link(ino: number, parent: number, name: string): Outcome {
    const node = this.nodes.get(ino)!;
    if (this.dir(parent).has(name)) return "EEXIST";
    if (node.type === FileType.Directory) return "EPERM";
    node.nlink++;
    this.dir(parent).set(name, ino);
    return "ok";
  }

  rename(sp: number, sn: string, dp: number, dn: string, flags: number): Outcome {
    const src = this.dir(sp).get(sn);
    if (src === undefined) return "ENOENT";
    const dst = this.dir(dp).get(dn);
    if (dst === src && !(flags & RenameFlags.EXCHANGE)) return "ok";
    if (flags & RenameFlags.NOREPLACE && dst !== undefined) return "EEXIST";
    const srcNode = this.nodes.get(src)!;
    const movesDir = (ino: number, from: number, to: number) =>
      this.nodes.get(ino)!.type === FileType.Directory && from !== to && this.isInside(to, ino);
    if (flags & RenameFlags.EXCHANGE) {
      if (dst === undefined) return "ENOENT";
      if (movesDir(src, sp, dp) || movesDir(dst, dp, sp)) return "EINVAL";
      this.dir(sp).set(sn, dst);
      this.dir(dp).set(dn, src);
      this.reparent(src, sp, dp);
      this.reparent(dst, dp, sp);
      return "ok";
    }
    if (movesDir(src, sp, dp)) return "EINVAL";
    if (dst !== undefined) {
      const dstNode = this.nodes.get(dst)!;
      const srcDir = srcNode.type === FileType.Directory;
      const dstDir = dstNode.type === FileType.Directory;
      if (dstDir && this.isInside(sp, dst)) return "ENOTEMPTY";
      if (srcDir && !dstDir) return "ENOTDIR";
      if (!srcDir && dstDir) return "EISDIR";
      if (dstDir && dstNode.children!.size > 0) return "ENOTEMPTY";
      this.dir(dp).delete(dn);
      if (dstDir) this.nodes.get(dp)!.nlink--;
      this.dropLink(dst);
    }
    this.dir(sp).delete(sn);
    this.dir(dp).set(dn, src);
    this.reparent(src, sp, dp);
    return "ok";
  }

  reparent(ino: number, from: number, to: number): void {
    const node = this.nodes.get(ino)!;
    if (node.type !== FileType.Directory || from === to) return;
    node.parent = to;
    this.nodes.get(from)!.nlink--;
    this.nodes.get(to)!.nlink++;
  }

  truncate(ino: number, size: number): Outcome {
    const node = this.nodes.get(ino)!;
    if (node.type === FileType.Directory) return "EISDIR";
    if (node.type !== FileType.File) return "EINVAL";
    node.size = size;
    return "ok";
  }
}

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    await p;
    return "ok";
  } catch (error) {
    if (!(error instanceof FsError)) throw error;
    const name = Object.entries(Errno).find(([, code]) => code === error.errno)?.[0];
    return (name ?? `errno ${error.errno}`) as Outcome;
  }
}

/** Walks both trees and compares names, types, link counts, sizes and symlink targets. */
async function compareTrees(meta: BaseMeta, model: Model): Promise<void> {
  const stack: Array<[number, number, string]> = [[ROOT_INODE, ROOT_INODE, "/"]];
  while (stack.length > 0) {
    const [metaIno, modelIno, path] = stack.pop()!;
    const entries = await meta.readdir(ctx, metaIno, 0, 1000, true);
    const expected = model.dir(modelIno);
    expect(entries.map((e) => e.name.toString()).sort()).toEqual([...expected.keys()].sort());
    for (const e of entries) {
      const node = model.nodes.get(expected.get(e.name.toString())!)!;
      const where = `${path}${e.name.toString()}`;
      expect({ where, type: e.attr?.type, nlink: e.attr?.nlink, size: e.attr?.size }).toEqual({
        where,
        type: node.type,
        nlink: node.nlink,
        size: node.type === FileType.Directory ? 4096 : node.size,
      });
      if (node.type === FileType.Directory)
        stack.push([e.inode, expected.get(e.name.toString())!, `${where}/`]);
      if (node.target) expect((await meta.readlink(ctx, e.inode)).toString()).toBe(node.target);
    }
  }
  const used = (await meta.counters()).usedInodes;
  expect(used).toBe(model.nodes.size + 1); // + the trash directory
}

/** Runs `steps` random operations; meta inodes are mapped to model inodes as they appear. */
export async function runModel(meta: BaseMeta, seed: number, steps: number): Promise<void> {
  const rand = rng(seed);
  const model = new Model();
  const toMeta = new Map<number, number>([[ROOT_INODE, ROOT_INODE]]);
  let nextModelIno = 100;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const dirs = () =>
    [...model.nodes].filter(([, n]) => n.type === FileType.Directory).map(([i]) => i);
  const live = () => [...model.nodes.keys()];

  for (let step = 0; step < steps; step++) {
    const op = pick([
      "mkdir",
      "create",
      "symlink",
      "unlink",
      "rmdir",
      "rename",
      "link",
      "truncate",
    ]);
    const p = pick(dirs());
    const name = pick(NAMES);
    const mp = toMeta.get(p)!;
    const nb = Buffer.from(name);
    let want: Outcome;
    let got: Outcome;
    let made: Promise<{ inode: number }> | undefined;
    const newIno = () => nextModelIno++;
    switch (op) {
      case "mkdir":
      case "create":
      case "symlink": {
        const type =
          op === "mkdir" ? FileType.Directory : op === "create" ? FileType.File : FileType.Symlink;
        const id = nextModelIno;
        want = model.create(p, name, type, newIno);
        made =
          op === "mkdir"
            ? meta.mkdir(ctx, mp, nb, 0o755, 0)
            : op === "create"
              ? meta.mknod(ctx, mp, nb, FileType.File, 0o644, 0, 0)
              : meta.symlink(ctx, mp, nb, Buffer.from("target"));
        got = await outcome(made.then((r) => toMeta.set(id, r.inode)));
        break;
      }
      case "unlink":
        want = model.unlink(p, name);
        got = await outcome(meta.unlink(ctx, mp, nb));
        break;
      case "rmdir":
        want = model.rmdir(p, name);
        got = await outcome(meta.rmdir(ctx, mp, nb));
        break;
      case "rename": {
        const dp = pick(dirs());
        const dn = pick(NAMES);
        const flags = pick([0, 0, 0, RenameFlags.NOREPLACE, RenameFlags.EXCHANGE]);
        want = model.rename(p, name, dp, dn, flags);
        got = await outcome(meta.rename(ctx, mp, nb, toMeta.get(dp)!, Buffer.from(dn), flags));
        break;
      }
      case "link": {
        const target = pick(live());
        want = model.link(target, p, name);
        got = await outcome(meta.link(ctx, toMeta.get(target)!, mp, nb));
        break;
      }
      default: {
        const target = pick(live());
        const size = Math.floor(rand() * 100_000);
        want = model.truncate(target, size);
        got = await outcome(meta.setattr(ctx, toMeta.get(target)!, { size }));
      }
    }
    expect({ step, op, got }).toEqual({ step, op, got: want });
    if (step % 100 === 99) await compareTrees(meta, model);
  }
  await compareTrees(meta, model);
}
