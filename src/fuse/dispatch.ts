/**
 * One FUSE request in, at most one reply out. INIT, DESTROY and INTERRUPT are handled here;
 * every other opcode goes to its handler in ops_*.ts, run concurrently with the others (a lock
 * wait is a pending promise: it holds no reader thread, and INTERRUPT aborts it). A
 * handler's FsError becomes -errno in fuse_out_header; anything else is a bug: logged, EIO.
 * Opcodes without a handler get ENOSYS (the kernel then stops sending most of them).
 */
import { FsError } from "../errors.ts";
import { log } from "../log.ts";
import { opDone } from "../metrics/jfs.ts";
import { type Credentials, Errno } from "../posix.ts";
import type { GroupsCache } from "./groups.ts";
import { negotiateInit } from "./init.ts";
import { dirOps } from "./ops_dir.ts";
import { fileOps } from "./ops_file.ts";
import { lockOps } from "./ops_lock.ts";
import { nodeOps } from "./ops_node.ts";
import { xattrOps } from "./ops_xattr.ts";
import { IN_HEADER_BYTES, InitFlag, Opcode, OUT_HEADER_BYTES, opcodeName } from "./protocol.ts";
import type { Handler, OpState, Reply } from "./state.ts";
import { decodeInHeader, encodeOutHeader, type InHeader, InReader } from "./structs.ts";

const HANDLERS: ReadonlyMap<number, Handler> = new Map([
  ...nodeOps,
  ...fileOps,
  ...dirOps,
  ...xattrOps,
  ...lockOps,
]);

/** Requests that may wait long enough for a signal to interrupt them. */
const INTERRUPTIBLE: ReadonlySet<number> = new Set([Opcode.SETLKW]);
/** INTERRUPTs remembered for requests not seen yet (readers race the main thread). */
const EARLY_INTERRUPTS_MAX = 64;
/**
 * Gives a request's memory back now (ArrayBuffer.transfer(0); views of it read as empty), when
 * `raw` is the whole of its buffer, as the channel delivers it.
 */
function freeRequest(raw: Buffer): void {
  const whole = raw.buffer;
  if (whole instanceof ArrayBuffer && raw.byteOffset === 0 && raw.byteLength === whole.byteLength) {
    whole.transfer(0);
  }
}

/** Passed to requests nothing can interrupt. */
const NEVER = new AbortController().signal;

/** Linux errnos fit in fuse_out_header.error as -1..-4095; others (ENOTSYNC) become EIO. */
function replyErrno(error: unknown, header: InHeader): number {
  if (error instanceof FsError && error.errno > 0 && error.errno < 4096) return error.errno;
  log.error(`FUSE ${opcodeName(header.opcode)} of inode ${header.nodeid} failed:`, error);
  return Errno.EIO;
}

export interface ReplySink {
  reply(fd: number, pieces: readonly Uint8Array[]): void;
  /** Called once per request the readers handed over, replied or not. */
  done(): void;
}

export class Dispatcher {
  #initialized = false;
  /** Called once the INIT reply has been written (the connection is fully set up). */
  onInit: () => void = () => undefined;
  /** Called when the kernel sends DESTROY (fuseblk-style clean shutdown). */
  onDestroy: () => void = () => undefined;

  /** Interruptible requests in flight, by unique. */
  readonly #waits = new Map<bigint, AbortController>();
  readonly #earlyInterrupts = new Set<bigint>();

  constructor(
    readonly state: OpState,
    private readonly groups: GroupsCache,
    private readonly sink: ReplySink,
  ) {}

  get initialized(): boolean {
    return this.#initialized;
  }

  /** Entry point for each request read from /dev/fuse `fd`. Never throws. */
  handle(raw: Buffer, fd: number): void {
    let header: InHeader;
    try {
      header = decodeInHeader(raw);
      // The kernel calls the mount's root 1; with --subdir it is another inode of the volume.
      header.nodeid = this.state.toVfs(header.nodeid);
    } catch (error) {
      log.error(`bad FUSE request: ${String(error)}`);
      this.sink.done();
      return;
    }
    const end = raw.length - header.totalExtlen * 8;
    const body = new InReader(raw.subarray(IN_HEADER_BYTES, Math.max(IN_HEADER_BYTES, end)));
    switch (header.opcode) {
      case Opcode.INIT:
        // The INIT reply sets the kernel's readahead, so tuning it waits for the reply.
        this.#answer(
          fd,
          header,
          () => this.#init(body),
          () => this.onInit(),
        );
        return;
      case Opcode.DESTROY:
        this.#send(fd, header.unique, 0, []);
        this.sink.done();
        this.onDestroy();
        return;
      case Opcode.INTERRUPT:
        // struct fuse_interrupt_in { uint64_t unique; }. No reply: the interrupted request
        // answers EINTR if it was waiting; any other just finishes (short or durable).
        this.#interrupt(body);
        this.sink.done();
        return;
      case Opcode.FORGET:
      case Opcode.BATCH_FORGET:
        this.sink.done();
        return;
    }
    const handler = HANDLERS.get(header.opcode);
    if (handler === undefined) {
      log.debug(`FUSE ${opcodeName(header.opcode)}: not implemented`);
      this.#send(fd, header.unique, -Errno.ENOSYS, []);
      this.sink.done();
      return;
    }
    const ctx: Credentials = {
      uid: header.uid,
      gid: header.gid,
      groups: this.groups.groups(header.pid, header.gid),
      pid: header.pid,
    };
    // Hooks to run once the reply is written (a READ's views of cached blocks are unpinned).
    let replied: (() => void)[] | undefined;
    const onReplied = (hook: () => void): void => {
      replied ??= [];
      replied.push(hook);
    };
    const runReplied = (): void => {
      for (const hook of replied ?? []) hook();
    };
    if (!INTERRUPTIBLE.has(header.opcode)) {
      const request = { header, ctx, body, signal: NEVER, onReplied };
      // A WRITE's data is copied into the write buffers before it is answered, so its request
      // buffer (up to 1 MiB, fresh from a reader thread) is freed then rather than left to the
      // collector, which frees such buffers late (issue 12: RSS of a sequential write).
      const settled =
        header.opcode === Opcode.WRITE
          ? () => {
              runReplied();
              freeRequest(raw);
            }
          : runReplied;
      this.#answer(fd, header, () => handler(this.state, request), undefined, settled);
      return;
    }
    const abort = new AbortController();
    if (this.#earlyInterrupts.delete(header.unique)) abort.abort();
    this.#waits.set(header.unique, abort);
    const signal = abort.signal;
    this.#answer(
      fd,
      header,
      async () => {
        try {
          return await handler(this.state, { header, ctx, body, signal, onReplied });
        } finally {
          this.#waits.delete(header.unique);
        }
      },
      undefined,
      runReplied,
    );
  }

  #interrupt(body: InReader): void {
    let unique: bigint;
    try {
      unique = body.u64();
    } catch {
      return;
    }
    const wait = this.#waits.get(unique);
    if (wait) {
      wait.abort();
      return;
    }
    this.#earlyInterrupts.add(unique);
    if (this.#earlyInterrupts.size > EARLY_INTERRUPTS_MAX) {
      const oldest = this.#earlyInterrupts.values().next();
      if (!oldest.done) this.#earlyInterrupts.delete(oldest.value);
    }
  }

  #answer(
    fd: number,
    header: InHeader,
    run: () => Promise<Reply> | Reply,
    afterReply?: () => void,
    settled?: () => void,
  ): void {
    const startMs = performance.now();
    let failed = false;
    let pending: Promise<Reply>;
    try {
      pending = Promise.resolve(run());
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending
      .then(
        (pieces) => {
          try {
            this.#send(fd, header.unique, 0, pieces);
          } catch (error) {
            // A reply that cannot be written (a bug in its encoding) must still answer the
            // request: the kernel would otherwise wait for it forever, and the caller hang.
            failed = true;
            log.error(`FUSE ${opcodeName(header.opcode)} reply not sent: ${String(error)}`);
            this.#send(fd, header.unique, -Errno.EIO, []);
            return;
          }
          afterReply?.();
        },
        (error: unknown) => {
          failed = true;
          this.#send(fd, header.unique, -replyErrno(error, header), []);
        },
      )
      .finally(() => {
        this.sink.done();
        opDone("fuse", opcodeName(header.opcode), startMs, failed);
        settled?.();
      });
  }

  #send(fd: number, unique: bigint, error: number, pieces: Reply): void {
    let total = OUT_HEADER_BYTES;
    for (const p of pieces) total += p.length;
    this.sink.reply(fd, [encodeOutHeader(total, error, unique), ...pieces]);
  }

  #init(body: InReader): Reply {
    const { reply, minor, flags } = negotiateInit(body, this.state.config);
    this.state.minor = minor;
    this.state.killprivV2 = (flags & InitFlag.HANDLE_KILLPRIV_V2) !== 0;
    this.#initialized = true;
    return [reply];
  }
}
