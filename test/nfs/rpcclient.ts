/**
 * A small ONC RPC client over TCP for tests: AUTH_NONE or AUTH_SYS calls, replies matched by
 * xid (so calls can be pipelined and answered out of order), raw bytes for hostile input, and
 * pause/resume of reading to play a client that does not read its replies.
 */
import type { Socket } from "bun";
import {
  AUTH_NONE_EMPTY,
  type AuthSysCredentials,
  encodeAuthSys,
  type OpaqueAuth,
} from "../../nfs/rpc/auth.ts";
import { writeCallHeader } from "../../nfs/rpc/call.ts";
import { RECORD_MARK_BYTES } from "../../nfs/rpc/constants.ts";
import { RecordDecoder, recordMark } from "../../nfs/rpc/record.ts";
import { decodeReply, describeReply, type RpcReply } from "../../nfs/rpc/reply.ts";
import type { XdrReader } from "../../nfs/xdr/reader.ts";
import { XdrWriter } from "../../nfs/xdr/writer.ts";
import { RPC_RECORD_BYTES_MAX } from "../../src/limits.ts";

export interface CallOptions {
  /** AUTH_SYS fields, or AUTH_NONE when absent. */
  authSys?: Omit<AuthSysCredentials, "flavor">;
  /** Raw cred/verf, for malformed-auth tests. */
  cred?: OpaqueAuth;
  verf?: OpaqueAuth;
  xid?: number;
}

export interface RpcResult {
  xid: number;
  reply: RpcReply<XdrReader>;
}

interface Pending {
  resolve(result: RpcResult): void;
  reject(error: Error): void;
}

export class RpcClient {
  private readonly socket: Socket<RpcClient | undefined>;
  private readonly decoder = new RecordDecoder({
    recordBytesMax: 4 * RPC_RECORD_BYTES_MAX,
    fragmentsMax: 1024,
  });
  private readonly pending = new Map<number, Pending>();
  private readonly outbox: Uint8Array[] = [];
  private outboxOffsetBytes = 0;
  private xidNext = 1;
  private readonly closedSignal = Promise.withResolvers<void>();
  repliesReceived = 0;
  /** Replies to xids nobody waits for (answers to raw garbage). */
  unmatchedReplies = 0;
  isClosed = false;

  private constructor(socket: Socket<RpcClient | undefined>) {
    this.socket = socket;
  }

  static async connect(port: number, hostname = "127.0.0.1"): Promise<RpcClient> {
    // A server may close at once (an address outside --allow): that can happen before
    // Bun.connect resolves and `data` is set, and must not be missed.
    let closedEarly = false;
    const onClose = (s: Socket<RpcClient | undefined>) => {
      if (s.data === undefined) closedEarly = true;
      else s.data.onClose();
    };
    const socket = await Bun.connect<RpcClient | undefined>({
      hostname,
      port,
      data: undefined,
      allowHalfOpen: true,
      socket: {
        data: (s, chunk) => s.data?.onData(chunk),
        drain: (s) => s.data?.flush(),
        close: onClose,
        error: onClose,
      },
    });
    const client = new RpcClient(socket);
    socket.data = client;
    if (closedEarly) client.onClose();
    return client;
  }

  /** Resolves when the server (or we) closed the connection. */
  get closed(): Promise<void> {
    return this.closedSignal.promise;
  }

  nextXid(): number {
    const xid = this.xidNext;
    this.xidNext = (this.xidNext + 1) >>> 0;
    return xid;
  }

  /** Sends one call and resolves with its reply, whatever the reply status. */
  call(
    prog: number,
    vers: number,
    proc: number,
    args: XdrWriter | Uint8Array = new Uint8Array(),
    options: CallOptions = {},
  ): Promise<RpcResult> {
    const xid = options.xid ?? this.nextXid();
    const cred =
      options.cred ??
      (options.authSys === undefined ? AUTH_NONE_EMPTY : encodeAuthSys(options.authSys));
    const writer = new XdrWriter();
    writer.uint32(0);
    writeCallHeader(writer, { xid, prog, vers, proc, cred, verf: options.verf ?? AUTH_NONE_EMPTY });
    if (args instanceof XdrWriter) writer.append(args);
    else writer.raw(args);
    writer.patchUint32(0, recordMark(writer.lengthBytes - RECORD_MARK_BYTES, true));
    const reply = this.expectReply(xid);
    for (const chunk of writer.chunks()) this.sendRaw(chunk);
    return reply;
  }

  /** Calls and requires SUCCESS; returns a reader over the results. */
  async callOk(
    prog: number,
    vers: number,
    proc: number,
    args?: XdrWriter | Uint8Array,
    options?: CallOptions,
  ): Promise<XdrReader> {
    const { reply } = await this.call(prog, vers, proc, args, options);
    if (reply.kind !== "success") throw new Error(`RPC call failed: ${describeReply(reply)}`);
    return reply.body;
  }

  /** A promise for the reply with this xid, for calls sent as raw bytes. */
  expectReply(xid: number): Promise<RpcResult> {
    const { promise, resolve, reject } = Promise.withResolvers<RpcResult>();
    if (this.isClosed) reject(new Error("RPC connection closed"));
    else this.pending.set(xid, { resolve, reject });
    return promise;
  }

  /** Queues bytes for the socket as they are, respecting its back-pressure. */
  sendRaw(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.outbox.push(bytes);
    if (this.outbox.length === 1) this.flush();
  }

  /** Bytes not yet accepted by the kernel. */
  get unsentBytes(): number {
    let total = -this.outboxOffsetBytes;
    for (const chunk of this.outbox) total += chunk.byteLength;
    return total;
  }

  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Closes our side abruptly (RST), as a crashing client would. */
  terminate(): void {
    this.socket.terminate();
    this.onClose();
  }

  /** Half-close: FIN after what was sent; replies can still arrive. */
  endWriting(): void {
    this.socket.shutdown();
  }

  async close(): Promise<void> {
    if (!this.isClosed) this.socket.end();
    await this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.isClosed) this.terminate();
    await this.closed;
  }

  private flush(): void {
    while (this.outbox.length > 0 && !this.isClosed) {
      const chunk = this.outbox[0]!;
      const lengthBytes = chunk.byteLength - this.outboxOffsetBytes;
      const written = this.socket.write(chunk, this.outboxOffsetBytes, lengthBytes);
      if (written < 0) return;
      if (written < lengthBytes) {
        this.outboxOffsetBytes += written;
        return;
      }
      this.outbox.shift();
      this.outboxOffsetBytes = 0;
    }
  }

  private onData(chunk: Uint8Array): void {
    this.decoder.push(chunk);
    for (let record = this.decoder.next(); record; record = this.decoder.next()) {
      const { xid, reply } = decodeReply(record);
      this.repliesReceived += 1;
      const pending = this.pending.get(xid);
      if (pending === undefined) {
        this.unmatchedReplies += 1;
        continue;
      }
      this.pending.delete(xid);
      pending.resolve({ xid, reply });
    }
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const pending of this.pending.values()) pending.reject(new Error("RPC connection closed"));
    this.pending.clear();
    this.closedSignal.resolve();
  }
}

/** A bare TCP connection for byte-exact exchanges (golden bytes, hostile input). */
export class RawConnection {
  private readonly socket: Socket<RawConnection | undefined>;
  private received = Buffer.alloc(0);
  private waiter: { lengthBytes: number; resolve(bytes: Buffer): void } | undefined;
  private readonly closedSignal = Promise.withResolvers<void>();

  private constructor(socket: Socket<RawConnection | undefined>) {
    this.socket = socket;
  }

  static async connect(port: number, hostname = "127.0.0.1"): Promise<RawConnection> {
    let closedEarly = false; // as in RpcClient.connect
    const onClose = (s: Socket<RawConnection | undefined>) => {
      if (s.data === undefined) closedEarly = true;
      else s.data.closedSignal.resolve();
    };
    const socket = await Bun.connect<RawConnection | undefined>({
      hostname,
      port,
      data: undefined,
      socket: {
        data: (s, chunk) => s.data?.onData(chunk),
        close: onClose,
        error: onClose,
      },
    });
    const connection = new RawConnection(socket);
    socket.data = connection;
    if (closedEarly) connection.closedSignal.resolve();
    return connection;
  }

  get closed(): Promise<void> {
    return this.closedSignal.promise;
  }

  /** Writes all of bytes (small test inputs: the kernel takes them at once). */
  write(bytes: Uint8Array): void {
    const written = this.socket.write(bytes);
    if (written !== bytes.byteLength) throw new Error(`short write ${written}/${bytes.byteLength}`);
  }

  /**
   * Writes bytes if the socket still takes them; false once the peer has closed it. For writers
   * on a timer that race the server's close, where a short write is the expected outcome.
   */
  writeIfOpen(bytes: Uint8Array): boolean {
    return this.socket.write(bytes) === bytes.byteLength;
  }

  /** The next lengthBytes received. */
  read(lengthBytes: number): Promise<Buffer> {
    const { promise, resolve } = Promise.withResolvers<Buffer>();
    this.waiter = { lengthBytes, resolve };
    this.deliver();
    return promise;
  }

  terminate(): void {
    this.socket.terminate();
  }

  private onData(chunk: Uint8Array): void {
    this.received = Buffer.concat([this.received, chunk]);
    this.deliver();
  }

  private deliver(): void {
    const waiter = this.waiter;
    if (waiter === undefined || this.received.byteLength < waiter.lengthBytes) return;
    this.waiter = undefined;
    const bytes = this.received.subarray(0, waiter.lengthBytes);
    this.received = this.received.subarray(waiter.lengthBytes);
    waiter.resolve(Buffer.from(bytes));
  }
}

/** Waits for a condition that some event will make true; polls the event loop, no fixed sleeps. */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** True if `closed` settles within timeoutMs (a connection the server should cut). */
export async function settlesWithin(closed: Promise<void>, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const outcome = await Promise.race([closed.then(() => true as const), late]);
  clearTimeout(timer);
  return outcome;
}

/**
 * True if the server cuts a new connection to `port` within timeoutMs: either the connection
 * opens and is then closed, or the server's reset arrives before connect(2) completes
 * (ECONNRESET), which is how a refusal at accept often looks on loopback.
 */
export async function closedAtConnect(port: number, timeoutMs: number): Promise<boolean> {
  try {
    const raw = await RawConnection.connect(port);
    return await settlesWithin(raw.closed, timeoutMs);
  } catch (error) {
    if ((error as { code?: unknown }).code === "ECONNRESET") return true;
    throw error;
  }
}
