import { NFS_DIR_FETCH_ENTRIES_MAX } from "../../src/limits.ts";
import type { Attr } from "../../src/posix.ts";
import type { VfsDirEntry } from "../../src/vfs/interface.ts";
import { xdrPaddingBytes } from "../xdr/reader.ts";
import { FATTR3_BYTES, NfsStat3, POST_OP_ATTR_BYTES } from "./constants.ts";
import type { Nfs3Op, Resolved } from "./context.ts";
import { HANDLE_BYTES } from "./handle.ts";
import { NfsError } from "./status.ts";
import type { Fattr3 } from "./types.ts";

export interface ListedEntry {
  fileid: bigint;
  name: Buffer;
  cookie: bigint;
  /** READDIRPLUS only; absent when the entry's attributes could not be had. */
  attributes?: Fattr3;
  handle?: Buffer;
}

export interface DirPage {
  entries: ListedEntry[];
  eof: boolean;
}

export interface PageLimits {
  plus: boolean;
  /** count or maxcount, already capped by the server's limit. */
  replyBytesMax: number;
  /** dircount for READDIRPLUS; for READDIR the same as replyBytesMax. */
  dirBytesMax: number;
}

/** post_op_attr dir_attributes + cookieverf3 + the list's final FALSE + bool eof. */
export const RESOK_FIXED_BYTES = POST_OP_ATTR_BYTES + 8 + 4 + 4;
/** entry3 with an empty name: the list link (TRUE), fileid, name length, cookie. */
const ENTRY3_FIXED_BYTES = 4 + 8 + 4 + 8;
/** What READDIRPLUS adds per entry at most: post_op_attr and post_op_fh3 with our handle. */
const PLUS_EXTRA_BYTES_MAX = 4 + FATTR3_BYTES + 4 + 4 + HANDLE_BYTES;

export function entryBytes(entry: ListedEntry, plus: boolean): number {
  const name = entry.name.byteLength + xdrPaddingBytes(entry.name.byteLength);
  if (!plus) return ENTRY3_FIXED_BYTES + name;
  const attributes = entry.attributes === undefined ? 4 : 4 + FATTR3_BYTES;
  const handle = entry.handle === undefined ? 4 : 8 + entry.handle.byteLength;
  return ENTRY3_FIXED_BYTES + name + attributes + handle;
}

function dirInfoBytes(entry: ListedEntry): number {
  return entryBytes(entry, false);
}

/** How many entries to ask the VFS for: as many as could still fit, within the fetch limit. */
function fetchCount(limits: PageLimits, replyBytes: number, dirBytes: number): number {
  const smallest = ENTRY3_FIXED_BYTES + 4 + (limits.plus ? PLUS_EXTRA_BYTES_MAX : 0);
  const byReply = Math.ceil((limits.replyBytesMax - replyBytes) / smallest);
  const byDir = Math.ceil((limits.dirBytesMax - dirBytes) / (ENTRY3_FIXED_BYTES + 4));
  return Math.max(1, Math.min(NFS_DIR_FETCH_ENTRIES_MAX, byReply, byDir));
}

class PageBuilder {
  readonly entries: ListedEntry[] = [];
  replyBytes = RESOK_FIXED_BYTES;
  dirBytes = 0;
  full = false;

  constructor(
    private readonly op: Nfs3Op,
    private readonly dir: Resolved,
    private readonly limits: PageLimits,
    public cookie: number,
  ) {}

  /** Adds an entry if it fits; false (and `full`) when it does not. */
  add(e: VfsDirEntry, attr: Attr | undefined): boolean {
    const listed = this.listed(e, attr);
    const size = entryBytes(listed, this.limits.plus);
    const dirSize = dirInfoBytes(listed);
    const replyFull = this.replyBytes + size > this.limits.replyBytesMax;
    if (this.entries.length === 0 && replyFull) {
      throw new NfsError(NfsStat3.TOOSMALL, `count ${this.limits.replyBytesMax} fits no entry`);
    }
    if (
      this.entries.length > 0 &&
      (replyFull || this.dirBytes + dirSize > this.limits.dirBytesMax)
    ) {
      this.full = true;
      return false;
    }
    this.entries.push(listed);
    this.replyBytes += size;
    this.dirBytes += dirSize;
    this.cookie = e.cookie;
    return true;
  }

  private listed(e: VfsDirEntry, attr: Attr | undefined): ListedEntry {
    // ".." of the export's root is the root: the client never sees above its export.
    const aboveExport = e.cookie === 2 && this.dir.inode === this.op.exp.exportRoot;
    const inode = aboveExport ? this.dir.inode : e.inode;
    const entryAttr = aboveExport ? this.dir.attr : attr;
    const listed: ListedEntry = { fileid: BigInt(inode), name: e.name, cookie: BigInt(e.cookie) };
    if (this.limits.plus && entryAttr !== undefined) {
      listed.attributes = this.op.fattr(inode, entryAttr);
      listed.handle = this.op.handle(inode, entryAttr);
    }
    return listed;
  }
}

/** One page of `dir` after `cookie`. */
export async function listDirectory(
  op: Nfs3Op,
  dir: Resolved,
  cookie: bigint,
  limits: PageLimits,
): Promise<DirPage> {
  if (cookie > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new NfsError(NfsStat3.BAD_COOKIE, `cookie ${cookie}`);
  }
  const page = new PageBuilder(op, dir, limits, Number(cookie));
  for (;;) {
    const want = fetchCount(limits, page.replyBytes, page.dirBytes);
    const batch = await op.vfs.readdir(op.cred, dir.inode, page.cookie, want, limits.plus);
    for (const e of batch) {
      if (!page.add(e, e.attr)) return { entries: page.entries, eof: false };
    }
    if (batch.length >= want) continue;
    // A short batch is the end: the VFS lists entries whose attributes vanished without them.
    return { entries: page.entries, eof: true };
  }
}
