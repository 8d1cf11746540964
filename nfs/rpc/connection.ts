/**
 * One client connection: records in, calls dispatched concurrently, replies out in whatever
 * order they finish (RFC 5531 matches them by xid, not by order).
 *
 * Memory is bounded by counting a call as in flight from the moment its record is taken from
 * the stream until the last byte of its reply has been accepted by the kernel. At
 * `inFlightMax` the connection stops pulling records and pauses the socket; TCP flow control
 * then pushes back on the client. A client that pipelines calls without reading replies thus
 * holds at most `inFlightMax` replies here, plus what the kernel's socket buffers hold.
 */
import type { Socket } from "bun";
import { assert } from "../../src/assert.ts";
import { describeError } from "../../src/errors.ts";
import { RPC_WRITE_BATCH_BYTES } from "../../src/limits.ts";
import { decodeCall } from "./call.ts";
import { AcceptStat, AuthStat } from "./constants.ts";
import type { ClientAddress, Dispatcher, RpcCall, RpcLogger } from "./dispatcher.ts";
import { RecordDecoder, RecordError } from "./record.ts";
import { encodeReplyRecord, type RpcReply } from "./reply.ts";

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
}

export interface ConnectionStats {
  inFlight: number;
  /** Reply bytes waiting for the socket to accept them. */
  outputBytes: number;
  /** Received bytes not yet taken as records. */
  inputBytes: number;
  paused: boolean;
}

interface OutputEntry {
  bytes: Uint8Array;
  offsetBytes: number;
  /** How many replies end with this entry (several after small replies were merged). */
  repliesEnded: number;
}

type SocketRef = Socket<RpcConnection | undefined>;

export class RpcConnection {
  readonly client: ClientAddress;
  private readonly localPort: number;
  private readonly socket: SocketRef;
  private readonly options: ConnectionOptions;
  private readonly decoder = new RecordDecoder();
  private inFlight = 0;
  private handlersRunning = 0;
  private readonly output: OutputEntry[] = [];
  private outputBytes = 0;
  private flushScheduled = false;
  private waitingForDrain = false;
  private paused = false;
  /** The peer sent FIN: answer the calls already received, then close. */
  private peerEnded = false;
  /** The server stops: answer the calls in flight, start no others, then close. */
  private stopping = false;
  private endSent = false;
  private closed = false;
  private readonly done = Promise.withResolvers<void>();

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
    };
  }

  onData(chunk: Uint8Array): void {
    if (this.closed || this.stopping) return;
    this.decoder.push(chunk);
    this.pump();
  }

  onEnd(): void {
    this.peerEnded = true;
    this.pump();
  }

  onDrain(): void {
    this.waitingForDrain = false;
    this.flush();
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    // Replies still to come are dropped as they arrive; queued ones are gone.
    this.output.length = 0;
    this.outputBytes = 0;
    this.inFlight = this.handlersRunning;
    this.settleIfDone();
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

  /** Takes records from the stream while fewer than inFlightMax calls are in flight. */
  private pump(): void {
    while (!this.closed && !this.stopping && this.inFlight < this.options.inFlightMax) {
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
      this.startCall(record);
    }
    this.updateReading();
    this.endIfIdle();
  }

  private updateReading(): void {
    const wantData = !this.peerEnded && !this.stopping && this.inFlight < this.options.inFlightMax;
    if (wantData === !this.paused || this.closed) return;
    this.paused = !wantData;
    if (wantData) this.socket.resume();
    else this.socket.pause();
  }

  private startCall(record: Uint8Array): void {
    const decoded = decodeCall(record);
    if (decoded.kind === "ignore") {
      this.options.log.debug(`ignoring a record from ${this.client.address}: ${decoded.reason}`);
      return;
    }
    this.inFlight += 1;
    if (decoded.kind === "reject") {
      this.sendReply(decoded.xid, decoded.reply);
      return;
    }
    const { args, kind: _, ...header } = decoded;
    const call: RpcCall = { ...header, client: this.client, localPort: this.localPort };
    const decision = this.decide(call);
    if (decision.action === "close") {
      this.abort();
      return;
    }
    if (decision.action === "deny") {
      this.sendReply(call.xid, { kind: "authError", stat: decision.authStat });
      return;
    }
    this.handlersRunning += 1;
    this.options.dispatcher.dispatch(call, args).then(
      (reply) => {
        this.handlersRunning -= 1;
        this.sendReply(call.xid, reply);
      },
      (error: unknown) => {
        // dispatch() turns every failure into a reply; this is a bug in it.
        this.handlersRunning -= 1;
        this.options.log.error(`RPC dispatch failed: ${describeError(error)}`, error);
        this.sendReply(call.xid, { kind: "acceptError", stat: AcceptStat.SYSTEM_ERR });
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

  private sendReply(xid: number, reply: RpcReply): void {
    if (this.closed) {
      this.inFlight -= 1;
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
    }
    for (let i = 0; i < chunks.length; i++) {
      const bytes = chunks[i]!;
      this.output.push({ bytes, offsetBytes: 0, repliesEnded: i === chunks.length - 1 ? 1 : 0 });
      this.outputBytes += bytes.byteLength;
    }
    // Replies finishing in the same turn leave in one write.
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  /** Writes queued replies until done or the socket pushes back (then `drain` resumes). */
  private flush(): void {
    while (this.output.length > 0 && !this.waitingForDrain && !this.closed) {
      this.mergeSmallEntries();
      const entry = this.output[0]!;
      const lengthBytes = entry.bytes.byteLength - entry.offsetBytes;
      const written = this.socket.write(entry.bytes, entry.offsetBytes, lengthBytes);
      if (written < 0) {
        this.onClose();
        return;
      }
      this.outputBytes -= written;
      if (written < lengthBytes) {
        entry.offsetBytes += written;
        this.waitingForDrain = true;
        break;
      }
      this.output.shift();
      this.inFlight -= entry.repliesEnded;
      assert(this.inFlight >= 0);
    }
    this.pump();
  }

  /** Joins the small entries at the head of the queue into one, for one write syscall. */
  private mergeSmallEntries(): void {
    let count = 0;
    let totalBytes = 0;
    for (const entry of this.output) {
      const lengthBytes = entry.bytes.byteLength - entry.offsetBytes;
      if (totalBytes + lengthBytes > RPC_WRITE_BATCH_BYTES) break;
      totalBytes += lengthBytes;
      count += 1;
    }
    if (count < 2) return;
    const merged = this.output.splice(0, count);
    const parts = merged.map((entry) => entry.bytes.subarray(entry.offsetBytes));
    const repliesEnded = merged.reduce((sum, entry) => sum + entry.repliesEnded, 0);
    this.output.unshift({ bytes: Buffer.concat(parts, totalBytes), offsetBytes: 0, repliesEnded });
  }

  /** Sends FIN once nothing more will be answered; pump() has taken every whole record. */
  private endIfIdle(): void {
    if (this.closed || this.endSent || !(this.peerEnded || this.stopping)) return;
    if (this.inFlight > 0 || this.output.length > 0) return;
    this.endSent = true;
    this.socket.end();
  }

  private settleIfDone(): void {
    if (this.closed && this.handlersRunning === 0) this.done.resolve();
  }
}
