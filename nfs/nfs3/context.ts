/**
 * What every NFSv3 procedure works with: the export (a VFS and its volume), the server's write
 * verifier, the access policy; and per call an Nfs3Op that resolves handles to inodes and
 * remembers the pre-operation attributes it saw, so that wcc_data can be sent on failure too.
 */
import { randomBytes } from "node:crypto";
import { assert } from "../../src/assert.ts";
import { isFsError } from "../../src/errors.ts";
import type { Attr, Credentials, Ino } from "../../src/posix.ts";
import type { Vfs, VfsEntry, VfsLookup } from "../../src/vfs/interface.ts";
import type { NfsPolicy } from "../policy.ts";
import type { RpcCall } from "../rpc/dispatcher.ts";
import { NFS3_VERIFIER_BYTES, NfsStat3 } from "./constants.ts";
import { decodeHandle, encodeHandle, volumeKey } from "./handle.ts";
import { ReadBuffers } from "./readbuffers.ts";
import { ExportScope } from "./scope.ts";
import { NfsError } from "./status.ts";
import { AttrFattr3, type Fattr3, fsidWords, type WccAttr, wccAttrOf } from "./types.ts";

export interface NfsExportOptions {
  vfs: Vfs;
  policy: NfsPolicy;
  /** The export's path as clients mount it ("/" or "/sub/dir"). */
  exportPath: string;
  /** The inode of that path (resolved through vfs.lookup at start). */
  exportRoot: Ino;
}

export class NfsExport {
  readonly vfs: Vfs;
  readonly policy: NfsPolicy;
  readonly exportPath: string;
  readonly exportRoot: Ino;
  /** Which inodes lie inside the export: handles of any other answer STALE. */
  readonly scope: ExportScope;
  /** 16 bytes naming the volume in every handle. */
  readonly volume: Buffer;
  /** fattr3.fsid: the first 8 bytes of the volume key, the same on every server of it. */
  readonly fsid: bigint;
  /** fsid as the two words every fattr3 of the export carries (computed once, not per reply). */
  private readonly fsidHigh: number;
  private readonly fsidLow: number;
  /**
   * writeverf3 (RFC 1813 section 3.3.7): new on every start of the server, so a client whose
   * UNSTABLE writes were acknowledged by a previous instance sees it change and sends them again.
   * Per file it is mixed with the file's write epoch (writeVerifierOf).
   */
  readonly writeVerifier: Buffer = randomBytes(NFS3_VERIFIER_BYTES);
  /** READ's recycled reply buffers. */
  readonly readBuffers = new ReadBuffers();

  constructor(options: NfsExportOptions) {
    this.vfs = options.vfs;
    this.policy = options.policy;
    this.exportPath = options.exportPath;
    this.exportRoot = options.exportRoot;
    this.scope = new ExportScope({
      vfs: options.vfs,
      exportRoot: options.exportRoot,
      exposeTrash: options.policy.exposeTrash,
    });
    this.volume = volumeKey(options.vfs.volumeId);
    this.fsid = this.volume.readBigUInt64BE(0);
    const { high, low } = fsidWords(this.fsid);
    this.fsidHigh = high;
    this.fsidLow = low;
  }

  /**
   * The verifier of one file: the server's, changed by each refusal of the file's buffered data
   * (vfs.writeErrorEpoch). A client whose UNSTABLE writes were dropped that way sees COMMIT
   * answer another verifier than its WRITEs got, and sends them again, as after a restart.
   */
  writeVerifierOf(inode: Ino): Buffer {
    const epoch = BigInt(this.vfs.writeErrorEpoch(inode));
    const out = Buffer.alloc(NFS3_VERIFIER_BYTES);
    out.writeBigUInt64BE(this.writeVerifier.readBigUInt64BE(0) ^ epoch);
    return out;
  }

  handleOf(inode: Ino, attr: Attr): Buffer {
    return encodeHandle(this.volume, { inode, generation: attr.generation });
  }

  fattr(inode: Ino, attr: Attr): Fattr3 {
    return new AttrFattr3(attr, inode, this.fsidHigh, this.fsidLow);
  }

  /** A new per-call state for `call`. */
  op(call: RpcCall): Nfs3Op {
    return new Nfs3Op(this, call, this.policy.credentialsOf(call.credentials));
  }
}

export interface Resolved {
  inode: Ino;
  attr: Attr;
}

export class Nfs3Op {
  /** Attributes seen before the operation changed anything (pre_op_attr), per inode. */
  private preOp: Map<Ino, WccAttr> | undefined;

  constructor(
    readonly exp: NfsExport,
    readonly call: RpcCall,
    /** Who the call acts as, after squashing. */
    readonly cred: Credentials,
  ) {}

  get vfs(): Vfs {
    return this.exp.vfs;
  }

  /**
   * The inode behind a handle, with its current attributes, which also become its pre_op_attr.
   * BADHANDLE for a malformed handle or another volume's; STALE for an inode that is gone, was
   * given out again (another generation), or lies outside the export (the trash included).
   */
  async resolve(fh: Uint8Array): Promise<Resolved> {
    const { inode, generation } = decodeHandle(this.exp.volume, fh);
    let attr: Attr;
    try {
      attr = await this.vfs.getattr(this.cred, inode);
    } catch (error) {
      if (isFsError(error, "ENOENT")) throw new NfsError(NfsStat3.STALE, `inode ${inode} is gone`);
      throw error;
    }
    return this.admit(inode, generation, attr);
  }

  /**
   * LOOKUP's directory and the entry `name` in it, from one meta read: the lookup returns the
   * directory's attributes too, and the handle is checked against those as resolve() would.
   * When the lookup fails, the handle's own status (BADHANDLE, STALE) still comes first, as
   * it did when the directory was resolved before looking in it.
   */
  async lookupIn(fh: Uint8Array, name: Buffer): Promise<{ dir: Resolved; found: VfsEntry }> {
    const { inode, generation } = decodeHandle(this.exp.volume, fh);
    let r: VfsLookup;
    try {
      r = await this.vfs.lookup(this.cred, inode, name);
    } catch (error) {
      await this.resolve(fh);
      throw error;
    }
    const dir = await this.admit(inode, generation, r.parentAttr);
    return { dir, found: { inode: r.inode, attr: r.attr } };
  }

  /** Checks fresh attributes of a handle's inode (generation, export) and records them. */
  private async admit(inode: Ino, generation: number, attr: Attr): Promise<Resolved> {
    if (attr.generation !== generation) {
      throw new NfsError(NfsStat3.STALE, `inode ${inode} has another generation`);
    }
    if (!(await this.exp.scope.contains(inode, attr))) {
      throw new NfsError(NfsStat3.STALE, `inode ${inode} is outside the export`);
    }
    this.preOp ??= new Map();
    this.preOp.set(inode, wccAttrOf(attr));
    return { inode, attr };
  }

  /** The pre_op_attr recorded for inode by resolve(), if any. */
  pre(inode: Ino): WccAttr | undefined {
    return this.preOp?.get(inode);
  }

  /** Current attributes for a post_op_attr, or undefined (FALSE) when they cannot be had. */
  async post(inode: Ino): Promise<Fattr3 | undefined> {
    try {
      return this.exp.fattr(inode, await this.vfs.getattr(this.cred, inode));
    } catch (error) {
      if (isFsError(error)) return undefined;
      throw error;
    }
  }

  /**
   * Attributes of the inode behind a handle for a failure body: undefined when the handle is
   * bad or stale (another generation's attributes would describe another file). Never throws
   * an NFS error.
   */
  async postOfHandle(fh: Uint8Array): Promise<{ inode: Ino; after: Fattr3 } | undefined> {
    let fields: { inode: Ino; generation: number };
    try {
      fields = decodeHandle(this.exp.volume, fh);
    } catch (error) {
      if (error instanceof NfsError) return undefined;
      throw error;
    }
    try {
      const attr = await this.vfs.getattr(this.cred, fields.inode);
      if (attr.generation !== fields.generation) return undefined;
      if (!(await this.exp.scope.contains(fields.inode, attr))) return undefined;
      return { inode: fields.inode, after: this.exp.fattr(fields.inode, attr) };
    } catch (error) {
      if (isFsError(error)) return undefined;
      throw error;
    }
  }

  handle(inode: Ino, attr: Attr): Buffer {
    return this.exp.handleOf(inode, attr);
  }

  fattr(inode: Ino, attr: Attr): Fattr3 {
    return this.exp.fattr(inode, attr);
  }
}

assert(NFS3_VERIFIER_BYTES === 8);
