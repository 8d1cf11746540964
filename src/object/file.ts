/**
 * Objects as files under a local directory: key "chunks/0/1/5_0_4096" is the file
 * ROOT/chunks/0/1/5_0_4096. A put writes ROOT/.../.jfs-tmp-<random> and renames it over the key,
 * so a reader sees the old or the new object, never a part; temp names are reserved (no key
 * segment may start with them) and never listed.
 *
 * Limitation shared with every filesystem-backed store: a key cannot also be a directory of other
 * keys ("a" and "a/b" cannot both exist). jfs's own key schema never needs that.
 */
import { randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
  writeFile,
} from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { assert, assertSafeUint } from "../assert.ts";
import { fsyncDir } from "../fsync.ts";
import {
  FILE_DURABLE_DIRS_MAX,
  FILE_PUT_ATTEMPTS_MAX,
  FILE_PUT_COPY_BYTES_MAX,
  OBJECT_LIST_PAGE_MAX,
} from "../limits.ts";
import type { ListPage, ObjectInfo, ObjectStore } from "./interface.ts";
import { ObjectNotFoundError, ObjectStoreError } from "./interface.ts";
import { compareKeys } from "./keys.ts";

const TEMP_PREFIX = ".jfs-tmp-";

export interface FileObjectStoreOptions {
  /**
   * fsync each object and the directory entries leading to it before put returns, so an object
   * a committed slice names survives a power cut (default true). false is for throw-away
   * stores only (benches of the store itself); no flag turns it off.
   */
  fsync?: boolean;
}

export class FileObjectStore implements ObjectStore {
  readonly description: string;
  readonly local = true;
  readonly #root: string;
  readonly #fsync: boolean;
  /**
   * Directories whose entry chain up to the root is durable (or being made so), by path. A put
   * awaits its directory's entry here: a directory another put just created is not durable
   * until that put has fsynced its parent. Bounded by clearing (that only costs fsyncs again).
   */
  readonly #durableDirs = new Map<string, Promise<void>>();

  constructor(rootDir: string, options: FileObjectStoreOptions = {}) {
    assert(rootDir.length > 0, "FileObjectStore needs a directory");
    this.#root = resolve(rootDir);
    this.#fsync = options.fsync ?? true;
    this.description = `file://${this.#root}/`;
  }

  async get(key: string, offset = 0, length?: number): Promise<Buffer> {
    assertSafeUint(offset, "offset");
    if (length !== undefined) assertSafeUint(length, "length");
    const path = this.#path(key);
    try {
      if (offset === 0 && length === undefined) return await readFile(path);
      return await readRange(path, offset, length);
    } catch (error: unknown) {
      if (isMissing(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
  }

  async getParts(key: string, parts: readonly Uint8Array[]): Promise<void> {
    const path = this.#path(key);
    const expectedBytes = parts.reduce((sum, part) => sum + part.byteLength, 0);
    let foundBytes: number;
    try {
      foundBytes = await readWhole(path, parts);
    } catch (error: unknown) {
      if (isMissing(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
    if (foundBytes !== expectedBytes) {
      const found = foundBytes > expectedBytes ? "longer" : `${foundBytes} bytes`;
      throw new ObjectStoreError(
        `object ${quote(key)} in ${this.description} is ${found}, not ${expectedBytes} bytes`,
      );
    }
  }

  put(key: string, data: Uint8Array): Promise<void> {
    return this.putParts(key, [data]);
  }

  async putParts(key: string, parts: readonly Uint8Array[]): Promise<void> {
    const path = this.#path(key);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#writeAtomic(path, parts);
        return;
      } catch (error: unknown) {
        this.#forgetDirs(dirname(path)); // they may be gone, or never have been directories
        if (isDirectoryRace(error) && attempt < FILE_PUT_ATTEMPTS_MAX) continue;
        if (isShapeConflict(error)) {
          throw new ObjectStoreError(
            `cannot put "${key}" in ${this.description}: a key and a directory of keys collide`,
            { cause: error },
          );
        }
        throw error;
      }
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.#path(key);
    try {
      await unlink(path);
    } catch (error: unknown) {
      if (isMissing(error)) return;
      throw error;
    }
    await this.#pruneEmptyParents(dirname(path));
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await stat(this.#path(key));
      if (!info.isFile()) return undefined;
      return { key, sizeBytes: info.size, mtimeMs: info.mtimeMs };
    } catch (error: unknown) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async list(prefix: string, startAfter = "", limit = OBJECT_LIST_PAGE_MAX): Promise<ListPage> {
    assert(Number.isSafeInteger(limit) && limit >= 1, `list limit must be >= 1, got ${limit}`);
    const limitClamped = Math.min(limit, OBJECT_LIST_PAGE_MAX);
    // Start at the deepest directory the prefix names: "a/b/c" can only match under "a/b/".
    const startDir = prefix.slice(0, prefix.lastIndexOf("/") + 1);
    const problem = prefix.includes("\0")
      ? "contains NUL"
      : startDir === ""
        ? undefined
        : keyProblem(startDir.slice(0, -1));
    if (problem !== undefined) {
      throw new ObjectStoreError(`invalid list prefix ${quote(prefix)}: ${problem}`);
    }

    const wanted = (rel: string, isDir: boolean): boolean => {
      if (isDir) {
        const overlapsPrefix = rel.startsWith(prefix) || prefix.startsWith(rel);
        // Every key under `rel` is <= startAfter unless startAfter itself lies under `rel`.
        const allBefore = compareKeys(rel, startAfter) <= 0 && !startAfter.startsWith(rel);
        return overlapsPrefix && !allBefore;
      }
      return rel.startsWith(prefix) && compareKeys(rel, startAfter) > 0;
    };

    // Depth-first walk with an explicit stack, smallest entry on top. A directory sorts as
    // "name/", which places all of its keys exactly where byte order puts them among siblings.
    const stack: WalkItem[] = [{ rel: startDir, isDir: true }];
    const objects: ObjectInfo[] = [];
    while (stack.length > 0) {
      const item = stack.pop()!;
      if (item.isDir) {
        const children = await this.#readDir(item.rel);
        const picked = children.filter((child) => wanted(child.rel, child.isDir));
        picked.sort((a, b) => compareKeys(b.rel, a.rel));
        for (const child of picked) stack.push(child);
        continue;
      }
      if (objects.length === limitClamped) {
        const last = objects[objects.length - 1]!;
        return { objects, nextStartAfter: last.key };
      }
      const info = await this.#statListed(item.rel);
      if (info !== undefined) objects.push(info);
    }
    return { objects };
  }

  async create(): Promise<void> {
    const firstCreated = await mkdir(this.#root, { recursive: true });
    if (!this.#fsync || firstCreated === undefined) return;
    for (let created = this.#root; ; created = dirname(created)) {
      await fsyncDir(dirname(created));
      if (created === firstCreated) break;
    }
  }

  async close(): Promise<void> {}

  /** Validates `key` and maps it into the root; no key can name a path outside it. */
  #path(key: string): string {
    const problem = keyProblem(key);
    if (problem !== undefined)
      throw new ObjectStoreError(`invalid object key ${quote(key)}: ${problem}`);
    return `${this.#root}/${key}`;
  }

  async #writeAtomic(path: string, parts: readonly Uint8Array[]): Promise<void> {
    const dir = dirname(path);
    if (this.#fsync) await this.#durableDir(dir);
    else await mkdir(dir, { recursive: true });
    const temp = `${dir}/${TEMP_PREFIX}${randomBytes(8).toString("hex")}`;
    try {
      const sizeBytes = parts.reduce((sum, part) => sum + part.byteLength, 0);
      if (sizeBytes <= FILE_PUT_COPY_BYTES_MAX) {
        const whole = parts.length === 1 ? parts[0]! : Buffer.concat(parts, sizeBytes);
        await writeFile(temp, whole, { flag: "wx", flush: this.#fsync });
      } else {
        const handle = await open(temp, "wx");
        try {
          if (parts.length === 1) await handle.writeFile(parts[0]!);
          else await writeAll(handle, parts);
          if (this.#fsync) await handle.sync();
        } finally {
          await handle.close();
        }
      }
      await rename(temp, path);
    } catch (error: unknown) {
      // Best effort: when `dir` is a file, Bun's rm fails (EFAULT) and would hide the cause.
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
    if (!this.#fsync) return;
    await fsyncDir(dir); // the new name
    // A delete may have pruned `dir` after we awaited it and another put recreated it, not yet
    // durable; now that our object is in it, it cannot be pruned: wait for whoever made it.
    await this.#durableDir(dir);
  }

  /**
   * Creates `dir` and its missing ancestors (below the root) and makes each one's entry durable
   * by fsyncing its parent, once per directory per process; concurrent puts share the work.
   */
  async #durableDir(dir: string): Promise<void> {
    assert(
      dir === this.#root || dir.startsWith(`${this.#root}/`),
      "object directories lie inside the root",
    );
    if (this.#durableDirs.size > FILE_DURABLE_DIRS_MAX) this.#durableDirs.clear();
    const chain: string[] = [];
    for (let d = dir; d.length > this.#root.length; d = dirname(d)) chain.push(d);
    chain.push(this.#root); // a put creates a missing root, as create() does
    let previous: Promise<void> = Promise.resolve();
    for (const d of chain.reverse()) {
      let ready = this.#durableDirs.get(d);
      if (ready === undefined) {
        ready = d === this.#root ? this.create() : previous.then(() => makeDurableDir(d));
        this.#durableDirs.set(d, ready);
        const settled = ready;
        ready.catch(() => {
          if (this.#durableDirs.get(d) === settled) this.#durableDirs.delete(d);
        });
      }
      previous = ready;
    }
    await previous;
  }

  #forgetDirs(dir: string): void {
    for (let d = dir; d.length >= this.#root.length; d = dirname(d)) this.#durableDirs.delete(d);
  }

  /** Removes directories left empty by a delete; stops at the first one still in use. */
  async #pruneEmptyParents(dir: string): Promise<void> {
    for (let current = dir; current.length > this.#root.length; current = dirname(current)) {
      assert(current.startsWith(`${this.#root}/`), "pruning stays inside the root");
      // Forgotten before it goes: a put that finds no entry makes the directory durable again.
      this.#durableDirs.delete(current);
      try {
        await rmdir(current);
      } catch {
        return;
      }
    }
  }

  async #readDir(rel: string): Promise<WalkItem[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(`${this.#root}/${rel}`, { withFileTypes: true });
    } catch (error: unknown) {
      if (isMissing(error)) return [];
      throw error;
    }
    const items: WalkItem[] = [];
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      if (entry.isDirectory()) items.push({ rel: `${rel}${entry.name}/`, isDir: true });
      else if (entry.isFile()) items.push({ rel: `${rel}${entry.name}`, isDir: false });
    }
    return items;
  }

  /** Undefined when the object was deleted between readdir and stat. */
  async #statListed(key: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await stat(`${this.#root}/${key}`);
      return { key, sizeBytes: info.size, mtimeMs: info.mtimeMs };
    } catch (error: unknown) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }
}

interface WalkItem {
  /** Key of a file, or key prefix ending in "/" of a directory, relative to the root. */
  rel: string;
  isDir: boolean;
}

/** Why `key` is not a safe relative path, or undefined when it is. */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return "empty";
  if (key.includes("\0")) return "contains NUL";
  if (key.startsWith("/")) return "absolute";
  for (const segment of key.split("/")) {
    if (segment === "") return "empty path segment";
    if (segment === "." || segment === "..") return `"${segment}" segment`;
    if (segment.startsWith(TEMP_PREFIX)) return `segment starts with reserved "${TEMP_PREFIX}"`;
  }
  return undefined;
}

async function readRange(path: string, offset: number, length?: number): Promise<Buffer> {
  const handle = await open(path, "r");
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw Object.assign(new Error(`${path} is not a file`), { code: "EISDIR" });
    const end = Math.min(info.size, length === undefined ? info.size : offset + length);
    const buffer = Buffer.allocUnsafe(Math.max(0, end - offset));
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(
        buffer,
        filled,
        buffer.length - filled,
        offset + filled,
      );
      if (bytesRead === 0) break; // Puts replace the inode, so only outside writers get here.
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/**
 * Reads the file at `path` into `parts`, in order, and one byte past them into a probe; returns
 * the bytes it found there (their total + 1 when the file is longer). One open, a readv (again
 * for what a short read left), one close.
 */
async function readWhole(path: string, parts: readonly Uint8Array[]): Promise<number> {
  const handle = await open(path, "r");
  try {
    let rest = [...parts, Buffer.allocUnsafe(1)].filter((part) => part.byteLength > 0);
    let position = 0;
    // At least one readv, so the probe is tried even with no parts (an object that should be empty).
    for (;;) {
      const { bytesRead } = await handle.readv(rest, position);
      position += bytesRead;
      rest = dropBytes(rest, bytesRead);
      // Short with the probe still to fill: a regular file's read is short only at its end.
      if (bytesRead === 0 || rest.length <= 1) return position;
    }
  } finally {
    await handle.close();
  }
}

/** mkdir (already there is fine), then fsync the parent that holds its entry. */
async function makeDurableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (error: unknown) {
    if (errorCode(error) !== "EEXIST") throw error;
  }
  await fsyncDir(dirname(dir));
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}

function isDirectoryRace(error: unknown): boolean {
  const code = errorCode(error);
  if (code === "ENOENT") return true;
  const syscall =
    typeof error === "object" && error !== null && "syscall" in error ? error.syscall : "";
  return code === "EEXIST" && syscall === "mkdir";
}

/** The path does not name a file: nothing there, a file where a directory was expected, a dir. */
function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR";
}

function isShapeConflict(error: unknown): boolean {
  const code = errorCode(error);
  return code === "ENOTDIR" || code === "EISDIR" || code === "EEXIST" || code === "ENOTEMPTY";
}

function quote(text: string): string {
  return JSON.stringify(text);
}

/** Writes the parts in order at the start of a new file: writev, again for what a short write left. */
async function writeAll(handle: FileHandle, parts: readonly Uint8Array[]): Promise<void> {
  let rest = parts.filter((part) => part.byteLength > 0);
  let position = 0;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest, position);
    assert(bytesWritten > 0, "writev wrote nothing");
    position += bytesWritten;
    rest = dropBytes(rest, bytesWritten);
  }
}

/** What is left of non-empty `parts` once their first `bytes` are done (a readv or writev). */
function dropBytes(parts: readonly Uint8Array[], bytes: number): Uint8Array[] {
  let first = 0;
  let skip = bytes;
  while (first < parts.length && skip >= parts[first]!.byteLength)
    skip -= parts[first++]!.byteLength;
  const rest = parts.slice(first);
  if (skip > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}
