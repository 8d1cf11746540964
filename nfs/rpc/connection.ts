/**
 * One client connection: records in, calls dispatched concurrently, replies out in whatever
 * order they finish (RFC 5531 matches them by xid, not by order).
 *
 * Memory is bounded by counting a call as in flight from the moment its record is taken from
 * the stream until the last byte of its reply has been accepted by the kernel. At
 * `inFlightMax` the connection stops pulling records and pauses the socket; TCP flow control
 * then pushes back on the client. A client that pipelines calls without reading replies thus
 * holds at most `inFlightMax` replies here, plus what the kernel's socket buffers hold.
 * Across connections, the bytes held are capped by the server's HeldBytesBudget (budget.ts).
 *
 * Time is bounded too (the server's sweep calls checkTimers): a connection with nothing in
 * flight and nothing received for idleTimeoutMs is closed; a record (or fragment header) that
 * is not complete stallMs after its first byte, or a reply the client has not read for stallMs,
 * closes the connection. Time spent paused by us (back-pressure) does not count against the
 * client.
 */
import { writev, writevSync } from "node:fs";
import type { Socket } from "bun";
import { assert } from "../../src/assert.ts";
import { describeError } from "../../src/errors.ts";
import {
  RPC_POOL_WRITE_BYTES_MIN,
  RPC_RECORD_RECYCLE_BYTES_MIN,
  RPC_SMALL_RECORD_BYTES_MAX,
  RPC_WRITEV_PIECES_MAX,
} from "../../src/limits.ts";
import type { RecycledBuffers } from "../../src/recycled.ts";
import { XdrWriter } from "../xdr/writer.ts";
import type { BudgetWaiter, HeldBytesBudget } from "./budget.ts";
import { decodeCall } from "./call.ts";
import { AcceptStat, AuthStat } from "./constants.ts";
import type { ClientAddress, Dispatcher, RpcCall, RpcLogger } from "./dispatcher.ts";
import { RecordDecoder, RecordError } from "./record.ts";
import { encodeReplyRecord, type RpcReply } from "./reply.ts";
import { closeSocketFd, dupSocketFd } from "./sendfd.ts";

/**
 * The per-call access check, run after the call header is decoded and before the procedure:
 * - allow: run the procedure;
 * - deny: answer MSG_DENIED AUTH_ERROR with authStat (AUTH_TOOWEAK is the usual "not you");
 * - close: answer nothing and close the connection.
 * A layer that wants a protocol-level refusal instead (NFS3ERR_ACCES) allows the call and
 * checks `call.client` in its procedures. It runs for every call, so keep it cheap and sync.
 */
export type AllowHook = (call: RpcCall) => AccessDecision;
export type AccessDecision =
  | { action: "allow" }
  | { action: "deny"; authStat: AuthStat }
  | { action: "close" };

export interface ConnectionOptions {
  dispatcher: Dispatcher;
  allow: AllowHook | undefined;
  log: RpcLogger;
  inFlightMax: number;
  budget: HeldBytesBudget;
  /** Where records of procedures that recycle their arguments are assembled (src/recycled.ts). */
  recordBuffers: RecycledBuffers;
  /** 0: never closed for being idle. */
  idleTimeoutMs: number;
  stallMs: number;
}

export interface ConnectionStats {
  inFlight: number;
  /** Reply bytes waiting for the socket to accept them. */
  outputBytes: number;
  /** Received bytes not yet taken as records. */
  inputBytes: number;
  paused: boolean;
  /** What this connection charges to the server-wide budget. */
  heldBytes: number;
}

interface OutputEntry {
  bytes: Uint8Array;
  offsetBytes: number;
  /** How many replies end with this entry (several after small replies were merged). */
  repliesEnded: number;
  /** The whenSent hooks of the replies that end with this entry (XdrWriter). */
  sent: (() => void)[] | undefined;
}

type SocketRef = Socket<RpcConnection | undefined>;

/** xid, msg_type, rpcvers, prog, vers, proc: where proc ends in a call's header. */
const CALL_HEADER_PROC_END_BYTES = 24;

export class RpcConnection implements BudgetWaiter {
  readonly client: ClientAddress;
  private readonly localPort: number;
  private readonly socket: SocketRef;
  private readonly options: ConnectionOptions;
  /** Socket reads are fresh buffers of their own: the decoder frees each once copied out. */
  private readonly decoder = new RecordDecoder(
    undefined,
    (parts, totalBytes) => this.recordBuffer(parts, totalBytes),
    "owned",
  );
  /** The pooled buffer the record just taken was assembled in, if any. */
  private recordLent: Buffer | undefined;
  private inFlight = 0;
  private handlersRunning = 0;
  private readonly output: OutputEntry[] = [];
  private outputBytes = 0;
  private flushScheduled = false;
  private waitingForDrain = false;
  /** Our dup of the socket's descriptor, for writes on the I/O pool (sendfd.ts); -1: none. */
  private poolFd: number | undefined;
  /** A writev on the I/O pool has not returned: its pieces are still being read. */
  private poolWriteInFlight = false;
  private paused = false;
  /** The peer sent FIN: answer the calls already received, then close. */
  private peerEnded = false;
  /** The server stops: answer the calls in flight, start no others, then close. */
  private stopping = false;
  private endSent = false;
  private closed = false;
  private readonly done = Promise.withResolvers<void>();
  /** Bytes of the records whose procedures still run. */
  private recordsBytes = 0;
  /** What was last charged to the budget, and how much of it runs or waits to be sent. */
  private chargedBytes = 0;
  private chargedReleasableBytes = 0;
  private waitingForBudget = false;
  /** The budget granted one record whatever it holds (see HeldBytesBudget.wake). */
  private hasTurn = false;
  /** When bytes last came in or went out; what "idle" is measured from. */
  lastActivityMs = performance.now();
  /** When the record being received began (paused time excluded), or undefined. */
  private recordStartedMs: number | undefined;
  private pausedAtMs = 0;
  /** When the socket last refused part of a reply and nothing moved since, or undefined. */
  private outputStalledSinceMs: number | undefined;

  constructor(socket: SocketRef, options: ConnectionOptions) {
    this.socket = socket;
    this.options = options;
    this.client = {
      address: socket.remoteAddress,
      port: socket.remotePort,
      family: socket.remoteFamily,
    };
    this.localPort = socket.localPort;
  }

  /** Resolves once the socket is closed and no procedure of this connection still runs. */
  get finished(): Promise<void> {
    return this.done.promise;
  }

  stats(): ConnectionStats {
    return {
      inFlight: this.inFlight,
      outputBytes: this.outputBytes,
      inputBytes: this.decoder.bufferedBytes,
      paused: this.paused,
      heldBytes: this.chargedBytes,
    };
  }

  /** Nothing in flight, nothing pending, nothing half-received. */
  get isIdle(): boolean {
    return (
      !this.closed &&
      this.inFlight === 0 &&
      this.output.length === 0 &&
      this.decoder.atRecordBoundary
    );
  }

  /** No call in flight and no reply pending. */
  private holdsNothing(): boolean {
    return this.inFlight === 0 && this.outputBytes === 0;
  }

  retry(turn: boolean): void {
    this.waitingForBudget = false;
    this.hasTurn ||= turn;
    this.pump();
  }

  /** Closes the connection if it was idle, or a record or reply stalled, for too long. */
  checkTimers(nowMs: number): void {
    if (this.closed) return;
    const { idleTimeoutMs, stallMs, log } = this.options;
    const address = this.client.address;
    if (idleTimeoutMs > 0 && this.isIdle && nowMs - this.lastActivityMs >= idleTimeoutMs) {
      log.debug(`closing RPC connection from ${address}: idle for ${idleTimeoutMs} ms`);
      this.abort();
    } else if (
      this.recordStartedMs !== undefined &&
      !this.paused &&
      nowMs - this.recordStartedMs >= stallMs
    ) {
      log.warn(
        `closing RPC connection from ${address}: a record is incomplete after ${stallMs} ms`,
      );
      this.abort();
    } else if (
      this.outputStalledSinceMs !== undefined &&
      nowMs - this.outputStalledSinceMs >= stallMs
    ) {
      log.warn(`closing RPC connection from ${address}: replies unread for ${stallMs} ms`);
      this.abort();
    }
  }

  onData(chunk: Uint8Array): void {
    if (this.closed || this.stopping) return;
    const now = performance.now();
    this.lastActivityMs = now;
    if (this.decoder.atRecordBoundary) this.recordStartedMs = now;
    this.options.budget.noteReceived(chunk.byteLength);
    this.decoder.push(chunk);
    this.pump();
  }

  onEnd(): void {
    this.peerEnded = true;
    this.pump();
  }

  onDrain(): void {
    this.waitingForDrain = false;
    this.outputStalledSinceMs = undefined;
    this.flush();
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    // Replies still to come are dropped as they arrive; queued ones are gone, once a pool
    // thread no longer reads them (their hooks may hand the buffers to the next call).
    if (!this.poolWriteInFlight) this.dropOutput();
    this.inFlight = this.handlersRunning;
    this.decoder.discard();
    this.options.budget.leave(this);
    this.waitingForBudget = false;
    this.charge();
    this.settleIfDone();
  }

  /** Runs the hooks of every queued reply and forgets them; closes our dup of the socket. */
  private dropOutput(): void {
    assert(this.closed && !this.poolWriteInFlight);
    for (const entry of this.output) runSentHooks(entry.sent);
    this.output.length = 0;
    this.outputBytes = 0;
    if (this.poolFd !== undefined && this.poolFd >= 0) closeSocketFd(this.poolFd);
    this.poolFd = -1;
  }

  /** Graceful stop: take no new calls, finish those in flight, flush, then close. */
  stop(): void {
    if (this.closed || this.stopping) return;
    this.stopping = true;
    this.updateReading();
    this.endIfIdle();
  }

  /** Abrupt close (a protocol violation, or the stop grace period is over). */
  abort(): void {
    if (this.closed) return;
    this.socket.terminate();
    this.onClose();
  }

  /**
   * Takes records from the stream while fewer than inFlightMax calls are in flight and the
   * budget admits a new record (one in progress is always finished).
   */
  private pump(): void {
    while (!this.closed && !this.stopping && this.inFlight < this.options.inFlightMax) {
      if (!this.decoder.inRecord) {
        const admission = this.admission();
        // A partial header: read on, the rest of it decides.
        if (admission === "more") break;
        if (admission === "wait") {
          if (!this.waitingForBudget) {
            this.waitingForBudget = true;
            this.options.budget.wait(this);
          }
          break;
        }
      }
      let record: Uint8Array | undefined;
      try {
        record = this.decoder.next();
      } catch (error) {
        if (!(error instanceof RecordError)) throw error;
        this.options.log.warn(
          `closing RPC connection from ${this.client.address}: ${error.message}`,
        );
        this.abort();
        return;
      }
      if (record === undefined) break;
      const lent = this.recordLent;
      this.recordLent = undefined;
      // The rest of the input, if any, is the start of the next record: its clock starts now.
      this.recordStartedMs = this.decoder.atRecordBoundary ? undefined : performance.now();
      this.hasTurn = false;
      this.startCall(record, lent);
    }
    this.charge();
    this.updateReading();
    this.endIfIdle();
  }

  /**
   * May the next record begin: yes, wait (for the budget), or more (bytes of its header)? A
   * connection holding nothing may always take one small record: it is how a client gets a
   * MNT or GETATTR through while WRITEs of others fill the budget, and it bounds what this
   * adds to one small record per connection.
   */
  private admission(): "yes" | "wait" | "more" {
    if (this.hasTurn || this.options.budget.admits()) return "yes";
    if (!this.holdsNothing()) return "wait";
    const recordBytes = this.decoder.peekRecordBytes();
    if (recordBytes === undefined) return "more";
    return recordBytes <= RPC_SMALL_RECORD_BYTES_MAX ? "yes" : "wait";
  }

  /** Brings what the budget holds for this connection up to date. */
  private charge(): void {
    const decoderBytes = this.closed ? 0 : this.decoder.committedBytes;
    const releasableBytes = this.recordsBytes + this.outputBytes;
    const heldBytes = decoderBytes + releasableBytes;
    const deltaBytes = heldBytes - this.chargedBytes;
    const releasableDeltaBytes = releasableBytes - this.chargedReleasableBytes;
    if (deltaBytes !== 0 || releasableDeltaBytes !== 0) {
      this.chargedBytes = heldBytes;
      this.chargedReleasableBytes = releasableBytes;
      this.options.budget.change(deltaBytes, releasableDeltaBytes);
    }
  }

  private updateReading(): void {
    const wantData =
      !this.peerEnded &&
      !this.stopping &&
      this.inFlight < this.options.inFlightMax &&
      (this.decoder.inRecord || this.admission() !== "wait");
    if (wantData === !this.paused || this.closed) return;
    this.paused = !wantData;
    const now = performance.now();
    if (wantData) {
      // Time paused by us is not the client's delay.
      if (this.recordStartedMs !== undefined) this.recordStartedMs += now - this.pausedAtMs;
      this.socket.resume();
    } else {
      this.pausedAtMs = now;
      this.socket.pause();
    }
  }

  /**
   * A recycled buffer for a record that spans chunks, when it is big and its procedure keeps
   * nothing of its arguments; its call header (prog, vers, proc at bytes 12-24) says which.
   */
  private recordBuffer(parts: readonly Uint8Array[], totalBytes: number): Buffer | undefined {
    const pool = this.options.recordBuffers;
    const head = parts[0]!;
    if (totalBytes < RPC_RECORD_RECYCLE_BYTES_MIN || totalBytes > pool.bufferBytes) return;
    if (head.byteLength < CALL_HEADER_PROC_END_BYTES) return;
    const view = new DataView(head.buffer, head.byteOffset, CALL_HEADER_PROC_END_BYTES);
    const [prog, vers, proc] = [view.getUint32(12), view.getUint32(16), view.getUint32(20)];
    if (!this.options.dispatcher.recyclesArgs(prog, vers, proc)) return;
    assert(this.recordLent === undefined, "one record assembled at a time");
    this.recordLent = pool.take();
    return this.recordLent;
  }

  private startCall(record: Uint8Array, lent: Buffer | undefined): void {
    const decoded = decodeCall(record);
    if (decoded.kind === "ignore") {
      this.options.log.debug(`ignoring a record from ${this.client.address}: ${decoded.reason}`);
      if (lent !== undefined) this.options.recordBuffers.give(lent);
      return;
    }
    const recordBytes = record.byteLength;
    this.inFlight += 1;
    this.recordsBytes += recordBytes;
    if (decoded.kind === "reject") {
      this.sendReply(decoded.xid, decoded.reply, recordBytes, lent);
      return;
    }
    const { args } = decoded;
    // Field by field: an object rest and spread copied the header twice per call.
    const call: RpcCall = {
      xid: decoded.xid,
      prog: decoded.prog,
      vers: decoded.vers,
      proc: decoded.proc,
      credentials: decoded.credentials,
      client: this.client,
      localPort: this.localPort,
    };
    const decision = this.decide(call);
    if (decision.action === "close") {
      this.recordsBytes -= recordBytes;
      if (lent !== undefined) this.options.recordBuffers.give(lent);
      this.abort();
      return;
    }
    if (decision.action === "deny") {
      this.sendReply(call.xid, { kind: "authError", stat: decision.authStat }, recordBytes, lent);
      return;
    }
    this.handlersRunning += 1;
    this.options.dispatcher.dispatch(call, args).then(
      (reply) => {
        this.handlersRunning -= 1;
        this.sendReply(call.xid, reply, recordBytes, lent);
      },
      (error: unknown) => {
        // dispatch() turns every failure into a reply; this is a bug in it.
        this.handlersRunning -= 1;
        this.options.log.error(`RPC dispatch failed: ${describeError(error)}`, error);
        const reply: RpcReply = { kind: "acceptError", stat: AcceptStat.SYSTEM_ERR };
        this.sendReply(call.xid, reply, recordBytes, lent);
      },
    );
  }

  private decide(call: RpcCall): AccessDecision {
    if (this.options.allow === undefined) return { action: "allow" };
    try {
      return this.options.allow(call);
    } catch (error) {
      // A broken policy must fail closed.
      this.options.log.error(`RPC allow hook failed: ${describeError(error)}`, error);
      return { action: "deny", authStat: AuthStat.AUTH_TOOWEAK };
    }
  }

  /**
   * Queues the reply of a call whose record (recordBytes) is no longer needed; a recycled
   * record buffer (`lent`) goes back with the reply's own whenSent hooks, in case the reply
   * borrowed from its arguments.
   */
  private sendReply(xid: number, reply: RpcReply, recordBytes: number, lent?: Buffer): void {
    this.recordsBytes -= recordBytes;
    assert(this.recordsBytes >= 0);
    this.lastActivityMs = performance.now();
    const sent =
      reply.kind === "success" && reply.body instanceof XdrWriter ? reply.body.takeSentHooks() : [];
    if (lent !== undefined) {
      const pool = this.options.recordBuffers;
      sent.push(() => pool.give(lent));
    }
    if (this.closed) {
      runSentHooks(sent);
      this.inFlight -= 1;
      this.charge();
      this.settleIfDone();
      return;
    }
    let chunks: Uint8Array[];
    try {
      chunks = encodeReplyRecord(xid, reply);
    } catch (error) {
      // A procedure returned a body that is not XDR (e.g. not a multiple of four bytes).
      this.options.log.error(`RPC reply xid ${xid} failed to encode: ${describeError(error)}`);
      chunks = encodeReplyRecord(xid, { kind: "acceptError", stat: AcceptStat.SYSTEM_ERR });
      runSentHooks(sent);
      sent.length = 0;
    }
    for (let i = 0; i < chunks.length; i++) {
      const bytes = chunks[i]!;
      const last = i === chunks.length - 1;
      this.output.push({
        bytes,
        offsetBytes: 0,
        repliesEnded: last ? 1 : 0,
        sent: last && sent.length > 0 ? sent : undefined,
      });
      this.outputBytes += bytes.byteLength;
    }
    this.charge();
    // Replies finishing in the same event-loop turn leave in one write. setImmediate, not a
    // microtask: calls read from one chunk finish a few promise hops apart (SQLite
    // transactions run one after another), and a microtask flush wrote each reply on its
    // own, a send syscall per call (bench/nfsrpc.ts; docs/benchmarks.md "NFS: server CPU").
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  /**
   * Writes queued replies until done or the socket pushes back (then `drain` resumes). The
   * queued pieces leave in one writev(2) on the socket's descriptor: a READ's header and the
   * view of its data, and the replies of calls that finished together, without copying them
   * into one buffer and without a send per piece (a 132-byte header sent on its own cost a
   * loopback segment and a wakeup of the client per READ). Bun's socket buffers nothing, so
   * the two may share the descriptor; when the kernel takes less than all, the rest of the
   * head piece goes through socket.write, whose short write is what arms `drain`.
   */
  private flush(): void {
    while (
      this.output.length > 0 &&
      !this.waitingForDrain &&
      !this.closed &&
      !this.poolWriteInFlight
    ) {
      // -1 once Bun closed the socket: the number may name another file by now.
      const fd = socketFd(this.socket);
      if (fd < 0) {
        this.onClose();
        return;
      }
      const pieces: Uint8Array[] = [];
      let queuedBytes = 0;
      for (const entry of this.output) {
        if (pieces.length === RPC_WRITEV_PIECES_MAX) break;
        pieces.push(entry.bytes.subarray(entry.offsetBytes));
        queuedBytes += entry.bytes.byteLength - entry.offsetBytes;
      }
      if (queuedBytes >= RPC_POOL_WRITE_BYTES_MIN && this.startPoolWrite(fd, pieces, queuedBytes)) {
        break;
      }
      let written: number;
      try {
        written = writevSync(fd, pieces);
      } catch (error) {
        written = this.writeFailed(error);
        if (written < 0) return;
      }
      if (!this.wrote(written, queuedBytes)) break;
    }
    this.pump();
  }

  /**
   * Big writes go to the I/O pool, through our dup of the socket: on loopback the sender's
   * system call also runs the receiver's TCP processing, 0.3-0.5 ms per MiB, which on the
   * event loop held up every other connection (four hot nfs-cp readers kept the JS thread
   * 94% busy). False where there is no dup (macOS): write here.
   */
  private startPoolWrite(fd: number, pieces: Uint8Array[], queuedBytes: number): boolean {
    if (this.poolFd === undefined) this.poolFd = dupSocketFd(fd) ?? -1;
    if (this.poolFd < 0) return false;
    this.poolWriteInFlight = true;
    writev(this.poolFd, pieces, (error, written) => {
      this.poolWriteInFlight = false;
      if (this.closed) {
        this.dropOutput();
        this.charge();
        this.settleIfDone();
        return;
      }
      const taken = !error ? written : this.writeFailed(error);
      if (taken >= 0 && this.wrote(taken, queuedBytes)) this.flush();
      else if (taken >= 0) this.pump();
    });
    return true;
  }

  /** 0 for a full socket buffer; otherwise closes the connection and says -1. */
  private writeFailed(error: unknown): number {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EAGAIN" || code === "EWOULDBLOCK") return 0;
    this.options.log.debug(
      `closing RPC connection from ${this.client.address}: write failed (${code})`,
    );
    this.abort();
    return -1;
  }

  /**
   * Takes `written` of the `queuedBytes` just offered off the queue. When the kernel took less,
   * the rest of the head piece goes through socket.write, whose short write is what arms
   * `drain`. True when writing may go on now.
   */
  private wrote(written: number, queuedBytes: number): boolean {
    this.consumeOutput(written);
    if (written === queuedBytes) return true;
    const entry = this.output[0]!;
    const lengthBytes = entry.bytes.byteLength - entry.offsetBytes;
    const taken = this.socket.write(entry.bytes, entry.offsetBytes, lengthBytes);
    if (taken < 0) {
      this.onClose();
      return false;
    }
    this.consumeOutput(taken);
    if (taken === lengthBytes) return true;
    this.waitingForDrain = true;
    if (written + taken > 0 || this.outputStalledSinceMs === undefined) {
      this.outputStalledSinceMs = performance.now();
    }
    return false;
  }

  /** Drops `writtenBytes` from the head of the output queue, finishing the replies it ends. */
  private consumeOutput(writtenBytes: number): void {
    if (writtenBytes === 0) return;
    this.outputBytes -= writtenBytes;
    assert(this.outputBytes >= 0);
    this.lastActivityMs = performance.now();
    let left = writtenBytes;
    while (left > 0) {
      const entry = this.output[0]!;
      const entryLeft = entry.bytes.byteLength - entry.offsetBytes;
      if (left < entryLeft) {
        entry.offsetBytes += left;
        return;
      }
      left -= entryLeft;
      this.output.shift();
      runSentHooks(entry.sent);
      this.inFlight -= entry.repliesEnded;
      assert(this.inFlight >= 0);
    }
  }

  /** Sends FIN once nothing more will be answered; pump() has taken every whole record. */
  private endIfIdle(): void {
    if (this.closed || this.endSent || !(this.peerEnded || this.stopping)) return;
    if (this.inFlight > 0 || this.output.length > 0) return;
    this.endSent = true;
    this.socket.end();
  }

  private settleIfDone(): void {
    if (this.closed && this.handlersRunning === 0 && !this.poolWriteInFlight) this.done.resolve();
  }
}

/**
 * The socket's descriptor, or -1 once closed. Bun's Socket has the `fd` getter (checked on Bun
 * 1.4) but its types do not declare it.
 */
function socketFd(socket: SocketRef): number {
  const fd = (socket as unknown as { readonly fd?: unknown }).fd;
  assert(typeof fd === "number", "Bun's socket has an fd");
  return fd;
}

function runSentHooks(hooks: readonly (() => void)[] | undefined): void {
  if (hooks === undefined) return;
  for (const hook of hooks) hook();
}
