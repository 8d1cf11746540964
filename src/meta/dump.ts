/**
 * dump and load: the whole metadata of a volume as JSON, one record per line (JSON Lines), so
 * both stream: a dump never holds more than one directory page, and a load applies the records
 * in batches of DUMP_LOAD_BATCH_RECORDS. Records, in the order written:
 *
 *   {"jfs":"dump","version":1,"engine":E,"snapshot":B,"inodes":N}   header; N is for progress
 *   {"node":INO,"attr":{...},"symlink":B64?,"xattrs":{NAME:B64}?,"parents":[[P,LINKS]]?,
 *    "chunks":[[INDEX,B64]]?}                        every inode; chunks are 24-byte slice records
 *   {"entry":PARENT,"name":B64,"inode":INO,"type":T,"seq":S}         every directory entry
 *   {"sliceRef":ID,"extra":N}                        slices referenced more than once
 *   {"unused":[[ID,SIZE],...]}                       slices waiting for gc
 *   {"deleted":INO,"size":BYTES}                     unlinked files whose data awaits release
 *   {"counters":{NAME:VALUE}}  {"setting":"FORMAT-JSON"}  {"end":{"nodes":N,"entries":M}}
 *
 * Sessions and open files are not volume state and are not dumped: a file unlinked while open
 * is dumped as deleted, so gc on the target releases it. The walk starts at the root and the
 * trash and keeps a queue of directory inodes (no recursion). A hard-linked file is written at
 * its entries in its lowest-numbered parent directory, once (a set per directory); unused slices
 * and deleted files are read in pages of PAGE_ENTRIES. So memory follows the walk's frontier and
 * the widest directory's hard links, not the volume's size (bench/dump.ts measures it). A dump
 * is one read-only transaction: a consistent snapshot on SQLite and PostgreSQL; Redis has no
 * snapshot (the header says "snapshot":false).
 */
import { assert } from "../assert.ts";
import { UserError } from "../errors.ts";
import { DUMP_LOAD_BATCH_RECORDS, ROOT_INODE, TRASH_INODE } from "../limits.ts";
import { decodeSlices, encodeSlices } from "./codec.ts";
import { type Attr, FileType, type Ino, type UnusedSlice } from "./interface.ts";
import type { CounterName, MetaEngine, MetaTxn } from "./txn.ts";

export const DUMP_VERSION = 1;
const COUNTERS: readonly CounterName[] = [
  "nextInode",
  "nextSliceId",
  "nextEntrySeq",
  "nextSession",
  "usedSpace",
  "usedInodes",
];
const PAGE_ENTRIES = 1000;

export interface DumpHeader {
  jfs: "dump";
  version: number;
  engine: string;
  snapshot: boolean;
  inodes: number;
}

interface NodeRecord {
  node: Ino;
  attr: Attr;
  symlink?: string;
  xattrs?: Record<string, string>;
  parents?: Array<[Ino, number]>;
  chunks?: Array<[number, string]>;
}

export interface DumpTotals {
  nodes: number;
  entries: number;
}

/** Where dump writes lines; it may apply backpressure. */
export type LineSink = (line: string) => void | Promise<void>;

const b64 = (b: Buffer): string => b.toString("base64");
const unb64 = (s: string): Buffer => Buffer.from(s, "base64");

async function nodeRecord(tx: MetaTxn, ino: Ino, attr: Attr): Promise<NodeRecord> {
  const record: NodeRecord = { node: ino, attr };
  if (attr.type === FileType.Symlink) {
    const target = await tx.getSymlink(ino);
    if (target) record.symlink = b64(target);
  }
  const names = await tx.listXattrs(ino);
  if (names.length > 0) {
    record.xattrs = {};
    for (const name of names) {
      const value = await tx.getXattr(ino, name);
      if (value) record.xattrs[name] = b64(value);
    }
  }
  if (attr.type !== FileType.Directory && attr.parent === 0) {
    record.parents = [...(await tx.getParents(ino))].sort((x, y) => x[0] - y[0]);
  }
  if (attr.type === FileType.File) {
    const chunks: Array<[number, string]> = [];
    for (const index of await tx.listChunkIndexes(ino)) {
      chunks.push([index, b64(encodeSlices(await tx.getChunk(ino, index)))]);
    }
    if (chunks.length > 0) record.chunks = chunks;
  }
  return record;
}

/** Writes the dump of `engine` to `sink`; `onNode` is called per inode (progress). */
export async function dumpVolume(
  engine: MetaEngine,
  sink: LineSink,
  onNode: (header: DumpHeader) => void = () => undefined,
): Promise<DumpTotals> {
  let runs = 0;
  return engine.txn(
    async (tx) => {
      // Lines already written cannot be taken back: a second run (the engine retrying after
      // a lost connection) would write them twice.
      if (++runs > 1)
        throw new UserError(`the dump of ${engine.displayUrl} was interrupted; run it again`);
      const setting = await tx.getSetting();
      if (setting === undefined) {
        throw new UserError(`Cannot dump "${engine.displayUrl}": not formatted (run jfs format)`);
      }
      const header: DumpHeader = {
        jfs: "dump",
        version: DUMP_VERSION,
        engine: engine.engine,
        snapshot: engine.engine !== "redis",
        inodes: await tx.getCounter("usedInodes"),
      };
      await sink(JSON.stringify(header));
      const totals = await dumpTree(tx, sink, () => onNode(header));
      const counters: Record<string, number> = {};
      for (const name of COUNTERS) counters[name] = await tx.getCounter(name);
      await sink(JSON.stringify({ counters }));
      await sink(JSON.stringify({ setting }));
      await sink(JSON.stringify({ end: totals }));
      return totals;
    },
    { readOnly: true },
  );
}

async function dumpTree(tx: MetaTxn, sink: LineSink, onNode: () => void): Promise<DumpTotals> {
  const totals: DumpTotals = { nodes: 0, entries: 0 };
  const sliceRefsSeen = new Set<number>();
  const writeNode = async (ino: Ino, attr: Attr): Promise<void> => {
    const record = await nodeRecord(tx, ino, attr);
    await sink(JSON.stringify(record));
    totals.nodes++;
    onNode();
    for (const [, encoded] of record.chunks ?? []) {
      for (const slice of decodeSlices(unb64(encoded))) {
        if (slice.id === 0 || sliceRefsSeen.has(slice.id)) continue;
        const extra = await tx.getSliceExtraRefs(slice.id);
        if (extra === 0) continue;
        sliceRefsSeen.add(slice.id);
        await sink(JSON.stringify({ sliceRef: slice.id, extra }));
      }
    }
  };
  const queue: Ino[] = [ROOT_INODE, TRASH_INODE];
  for (const ino of queue) {
    const attr = await tx.getAttr(ino);
    assert(attr, `inode ${ino} is missing`);
    await writeNode(ino, attr);
  }
  for (let next = 0; next < queue.length; next++) {
    const dir = queue[next]!;
    // Hard-linked files this directory wrote: one file may have several names in it.
    const linkedHere = new Set<Ino>();
    for (let cookie = 0; ; ) {
      const page = await tx.listEntries(dir, cookie, PAGE_ENTRIES);
      if (page.length === 0) break;
      cookie = page.at(-1)!.seq;
      const attrs = await tx.getAttrs(page.map((e) => e.inode));
      for (const [i, e] of page.entries()) {
        await sink(
          JSON.stringify({
            entry: dir,
            name: b64(e.name),
            inode: e.inode,
            type: e.type,
            seq: e.seq,
          }),
        );
        totals.entries++;
        const attr = attrs[i];
        if (!attr) continue;
        if (attr.type === FileType.Directory) queue.push(e.inode);
        else if (attr.parent === 0) {
          if (linkedHere.has(e.inode) || (await lowestParent(tx, e.inode)) !== dir) continue;
          linkedHere.add(e.inode);
        }
        await writeNode(e.inode, attr);
      }
    }
    // The queue only grows at its end: drop what was walked so memory follows the frontier.
    if (next >= PAGE_ENTRIES) {
      queue.splice(0, next + 1);
      next = -1;
    }
  }
  await dumpGarbage(tx, sink, writeNode);
  return totals;
}

/** The directory where a hard-linked file is dumped: its parent with the lowest inode. */
async function lowestParent(tx: MetaTxn, ino: Ino): Promise<Ino | undefined> {
  let lowest: Ino | undefined;
  for (const [parent, links] of await tx.getParents(ino)) {
    if (links > 0 && (lowest === undefined || parent < lowest)) lowest = parent;
  }
  return lowest;
}

/**
 * Unused slices and deleted files, a page at a time, with the nodes of deleted files (no entry
 * names them: nlink is 0).
 */
async function dumpGarbage(
  tx: MetaTxn,
  sink: LineSink,
  writeNode: (ino: Ino, attr: Attr) => Promise<void>,
): Promise<void> {
  for (let after: UnusedSlice | undefined; ; ) {
    const page = await tx.listUnusedSlices(PAGE_ENTRIES, after);
    if (page.length === 0) break;
    after = page.at(-1);
    await sink(JSON.stringify({ unused: page.map((s) => [s.id, s.size]) }));
  }
  const writeDeleted = async (ino: Ino, size: number): Promise<void> => {
    const attr = await tx.getAttr(ino);
    if (attr && attr.nlink === 0) await writeNode(ino, attr);
    await sink(JSON.stringify({ deleted: ino, size }));
  };
  for (let after = 0; ; ) {
    const page = await tx.listDeletedFiles(PAGE_ENTRIES, after);
    if (page.length === 0) break;
    after = page.at(-1)!.inode;
    for (const f of page) await writeDeleted(f.inode, f.sizeBytes);
  }
  // Files unlinked while open: kept for their sessions, which do not move with the volume. A
  // file open in several sessions is written once, by the lowest of them.
  for (const s of await tx.listSessions()) {
    for (const ino of await tx.listOpenInodes(s.sid)) {
      const attr = await tx.getAttr(ino);
      if (attr?.nlink !== 0) continue;
      const sessions = await tx.listOpenSessions(ino);
      if (Math.min(...sessions) !== s.sid) continue;
      if ((await tx.listDeletedFiles(1, ino - 1))[0]?.inode === ino) continue;
      await writeDeleted(ino, attr.size);
    }
  }
}

/** Whether the engine holds no volume (no setting, no root inode). */
export async function isEmpty(engine: MetaEngine): Promise<boolean> {
  return engine.txn(
    async (tx) =>
      (await tx.getSetting()) === undefined && (await tx.getAttr(ROOT_INODE)) === undefined,
    { readOnly: true },
  );
}

type Write = (tx: MetaTxn) => void;

/** The writes of one record; header, counters, setting and end are handled by loadVolume. */
function recordWrites(r: Record<string, unknown>): Write[] {
  if (typeof r.node === "number") {
    const node = r as unknown as NodeRecord;
    const writes: Write[] = [(tx) => tx.setAttr(node.node, node.attr)];
    if (node.symlink !== undefined)
      writes.push((tx) => tx.setSymlink(node.node, unb64(node.symlink!)));
    for (const [name, value] of Object.entries(node.xattrs ?? {})) {
      writes.push((tx) => tx.setXattr(node.node, name, unb64(value)));
    }
    for (const [parent, links] of node.parents ?? []) {
      writes.push((tx) => tx.setParent(node.node, parent, links));
    }
    for (const [index, slices] of node.chunks ?? []) {
      writes.push((tx) => tx.setChunk(node.node, index, decodeSlices(unb64(slices))));
    }
    return writes;
  }
  if (typeof r.entry === "number") {
    const e = r as { entry: Ino; name: string; inode: Ino; type: FileType; seq: number };
    return [
      (tx) => tx.setEntry(e.entry, unb64(e.name), { inode: e.inode, type: e.type, seq: e.seq }),
    ];
  }
  if (typeof r.sliceRef === "number") {
    const s = r as { sliceRef: number; extra: number };
    return [(tx) => tx.setSliceExtraRefs(s.sliceRef, s.extra)];
  }
  if (Array.isArray(r.unused)) {
    const slices = (r.unused as Array<[number, number]>).map(([id, size]) => ({ id, size }));
    return [(tx) => tx.addUnusedSlices(slices)];
  }
  if (typeof r.deleted === "number") {
    const d = r as { deleted: Ino; size: number };
    return [(tx) => tx.addDeletedFile({ inode: d.deleted, sizeBytes: d.size })];
  }
  throw new UserError(`not a jfs dump record: ${JSON.stringify(r).slice(0, 80)}`);
}

/**
 * Loads the lines of a dump into `engine`, which must be empty (the caller destroys it first
 * for --force). The setting goes in last, with the counters: a load that stops half way leaves
 * no volume that mounts, and `load --force` can run again.
 */
export async function loadVolume(
  engine: MetaEngine,
  lines: AsyncIterable<string>,
  onHeader: (header: DumpHeader) => void = () => undefined,
  onNode: () => void = () => undefined,
): Promise<DumpTotals> {
  let header: DumpHeader | undefined;
  let counters: Record<string, number> | undefined;
  let setting: string | undefined;
  let end: DumpTotals | undefined;
  const seen: DumpTotals = { nodes: 0, entries: 0 };
  let batch: Write[] = [];
  const flush = async (): Promise<void> => {
    const writes = batch;
    batch = [];
    if (writes.length === 0) return;
    await engine.txn(async (tx) => {
      for (const write of writes) write(tx);
    });
  };
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === "") continue;
    if (end) throw new UserError(`dump line ${lineNo}: records after the end record`);
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new UserError(`dump line ${lineNo}: not JSON`);
    }
    if (!header) {
      if (r.jfs !== "dump") throw new UserError("not a jfs dump (no header on its first line)");
      if (r.version !== DUMP_VERSION) {
        throw new UserError(
          `a dump of version ${String(r.version)}; this jfs reads version ${DUMP_VERSION}`,
        );
      }
      header = r as unknown as DumpHeader;
      onHeader(header);
      continue;
    }
    if (r.counters) counters = r.counters as Record<string, number>;
    else if (typeof r.setting === "string") setting = r.setting;
    else if (r.end) end = r.end as DumpTotals;
    else {
      if (typeof r.node === "number") {
        seen.nodes++;
        onNode();
      } else if (typeof r.entry === "number") seen.entries++;
      batch.push(...recordWrites(r));
      if (batch.length >= DUMP_LOAD_BATCH_RECORDS) await flush();
    }
  }
  await flush();
  if (!header) throw new UserError("the dump is empty");
  if (!end || !counters || setting === undefined) {
    throw new UserError(
      "the dump is truncated (no end record): no volume was made; load a whole dump with --force",
    );
  }
  if (end.nodes !== seen.nodes || end.entries !== seen.entries) {
    throw new UserError(
      `the dump is damaged: it says ${end.nodes} inodes and ${end.entries} entries, it holds ${seen.nodes} and ${seen.entries}`,
    );
  }
  const finalCounters = counters;
  const finalSetting = setting;
  await engine.txn(async (tx) => {
    for (const name of COUNTERS) {
      const value = finalCounters[name] ?? 0;
      if (value !== 0) tx.addCounter(name, value);
    }
    tx.setSetting(finalSetting);
  });
  return seen;
}

/** The lines of a byte stream (a file or stdin), without holding more than one chunk. */
export async function* streamLines(stream: ReadableStream<Uint8Array>): AsyncIterable<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop()!;
    yield* lines;
  }
  rest += decoder.decode();
  if (rest !== "") yield rest;
}
