/**
 * ListObjects (V1 and V2) as a walk of the bucket's directory tree in S3's key order (UTF-8
 * bytes). A directory's entries sort by name, with "/" after a directory's name, which gives
 * keys in order without sorting the whole bucket. Subtrees that cannot hold a key of the page
 * (outside the prefix, before the marker, or rolled up into one common prefix) are not read.
 * The walk keeps a stack of directories, no recursion.
 */
import { GATEWAY_DIR_ENTRIES_MAX } from "../limits.ts";
import { FileType, type Ino } from "../posix.ts";
import { s3Errors } from "./errors.ts";
import { type Namespace, TEMP_PREFIX } from "./namespace.ts";

export interface ListRequest {
  prefix: string;
  delimiter: string;
  /** Keys and common prefixes up to and including this one are skipped. */
  after: string;
  maxKeys: number;
}

export interface ListedObject {
  key: string;
  ino: Ino;
}

export interface ListResult {
  objects: ListedObject[];
  prefixes: string[];
  truncated: boolean;
  /** The last key or common prefix returned: where the next page starts. */
  last?: string;
}

type Item = { kind: "object"; key: string; ino: Ino } | { kind: "prefix"; key: string };

export function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

interface Frame {
  path: string;
  entries: { sortName: string; ino: Ino; isDir: boolean }[];
  index: number;
}

async function frameOf(ns: Namespace, ino: Ino, path: string): Promise<Frame> {
  const all = await ns.readdirAll(ino);
  if (all.length > GATEWAY_DIR_ENTRIES_MAX) {
    throw s3Errors.invalidRequest(
      `A directory of ${path} has more than ${GATEWAY_DIR_ENTRIES_MAX} entries`,
    );
  }
  const entries = all
    .filter((e) => e.type === FileType.File || e.type === FileType.Directory)
    .map((e) => ({
      name: e.name.toString("utf8"),
      ino: e.inode,
      isDir: e.type === FileType.Directory,
    }))
    .filter((e) => !e.name.startsWith(TEMP_PREFIX))
    .map((e) => ({ sortName: e.isDir ? `${e.name}/` : e.name, ino: e.ino, isDir: e.isDir }))
    .sort((a, b) => byteCompare(a.sortName, b.sortName));
  return { path, entries, index: 0 };
}

/** Keys and common prefixes in order, after `after`. */
async function* walk(ns: Namespace, bucketIno: Ino, request: ListRequest): AsyncGenerator<Item> {
  const { prefix, delimiter, after } = request;
  // Start at the deepest directory the prefix names whole.
  const dirParts = prefix.split("/").slice(0, -1);
  // Uploads in progress are no prefix of any key (keyParts refuses the name).
  if (dirParts.some((p) => p.startsWith(TEMP_PREFIX))) return;
  const start = await ns.walk(bucketIno, dirParts);
  if (start === undefined) return;
  const stack: Frame[] = [await frameOf(ns, start, dirParts.map((p) => `${p}/`).join(""))];
  const rollUp = (full: string): string | undefined => {
    if (delimiter === "" || !full.startsWith(prefix)) return undefined;
    const at = full.indexOf(delimiter, prefix.length);
    return at < 0 ? undefined : full.slice(0, at + delimiter.length);
  };
  let lastPrefix: string | undefined;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const entry = frame.entries[frame.index++];
    if (entry === undefined) {
      stack.pop();
      continue;
    }
    const full = frame.path + entry.sortName;
    if (entry.isDir && !(full.startsWith(prefix) || prefix.startsWith(full))) continue;
    if (!entry.isDir && !full.startsWith(prefix)) continue;
    // Everything under `full` sorts before `after`: skip the subtree (or the key).
    if (byteCompare(full, after) <= 0 && !(entry.isDir && after.startsWith(full))) continue;
    const common = rollUp(full);
    if (common !== undefined) {
      // The whole subtree (or this key) is one common prefix, given once.
      if (common === lastPrefix || byteCompare(common, after) <= 0 || after.startsWith(common)) {
        continue;
      }
      lastPrefix = common;
      yield { kind: "prefix", key: common };
      continue;
    }
    if (entry.isDir) stack.push(await frameOf(ns, entry.ino, full));
    else yield { kind: "object", key: full, ino: entry.ino };
  }
}

export async function listObjects(
  ns: Namespace,
  bucketIno: Ino,
  request: ListRequest,
): Promise<ListResult> {
  const result: ListResult = { objects: [], prefixes: [], truncated: false };
  if (request.maxKeys === 0) return result;
  let count = 0;
  for await (const item of walk(ns, bucketIno, request)) {
    if (count === request.maxKeys) {
      result.truncated = true;
      break;
    }
    count++;
    if (item.kind === "object") result.objects.push({ key: item.key, ino: item.ino });
    else result.prefixes.push(item.key);
    result.last = item.key;
  }
  return result;
}
