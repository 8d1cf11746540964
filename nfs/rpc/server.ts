/**
 * ONC RPC over TCP: one port serves every registered program. PORTMAP, MOUNT and NFS share
 * it, so clients are given the same number twice (Linux: -o port=P,mountport=P; libnfs:
 * nfs://host/path?nfsport=P&mountport=P, which then never asks a portmapper on port 111).
 *
 * Built on Bun.listen rather than node:net: its write() reports how much the kernel took,
 * so our own queue is the only user-space buffer and back-pressure is exact (see
 * connection.ts). This layer checks no source port itself: access policy belongs to the
 * `allow` hook, run per call (the NFS server's refuses unreserved ports, see nfs/policy.ts and
 * nfs/server.ts), and to `acceptConnection`, run once per connection: a refused address is
 * closed at once and never takes a connection slot.
 *
 * What connections hold is bounded for the whole server: bytes by a HeldBytesBudget
 * (budget.ts), time by a sweep that closes idle connections and stalled records (connection.ts),
 * and their number by connectionsMax. At that number a new connection evicts the one idle the
 * longest (as knfsd drops its oldest temporary transport), so idle sockets cannot lock everyone
 * out; only when none is idle is it refused.
 *
 *   const server = RpcServer.listen({ dispatcher, hostname: "127.0.0.1", port: 0 });
 *   server.port;            // the bound port
 *   await server.stop();    // stop accepting, finish in-flight calls, close
 */
import type { TCPSocketListener } from "bun";
import { consola } from "consola";
import { assert } from "../../src/assert.ts";
import {
  RPC_CONNECTIONS_MAX,
  RPC_HELD_BYTES_MAX,
  RPC_IDLE_TIMEOUT_SEC_DEFAULT,
  RPC_IN_FLIGHT_PER_CONNECTION_MAX,
  RPC_RECORD_BUFFERS_POOLED,
  RPC_RECORD_BYTES_MAX,
  RPC_RECORD_STALL_MS,
  RPC_STOP_GRACE_MS,
  RPC_TIMER_TICK_MS_MAX,
  RPC_TIMER_TICK_MS_MIN,
} from "../../src/limits.ts";
import { RecycledBuffers } from "../../src/recycled.ts";
import { HeldBytesBudget } from "./budget.ts";
import { type AllowHook, type ConnectionStats, RpcConnection } from "./connection.ts";
import type { Dispatcher, RpcLogger } from "./dispatcher.ts";

export interface RpcServerOptions {
  dispatcher: Dispatcher;
  /** Address to bind; default 127.0.0.1. */
  hostname?: string;
  /** Port to bind; 0 (the default) picks a free one, read it back from `port`. */
  port?: number;
  allow?: AllowHook;
  /** Checked when a connection is accepted; false closes it at once. */
  acceptConnection?: (address: string) => boolean;
  log?: RpcLogger;
  inFlightPerConnectionMax?: number;
  connectionsMax?: number;
  /** Server-wide cap on bytes held for calls; default RPC_HELD_BYTES_MAX. */
  heldBytesMax?: number;
  /** Close connections idle this long; 0 = never. Default RPC_IDLE_TIMEOUT_SEC_DEFAULT. */
  idleTimeoutMs?: number;
  /** Drop a record, or a reply the client does not read, stalled this long. */
  stallMs?: number;
}

export interface RpcServerStats extends ConnectionStats {
  connections: number;
  /** Connections waiting for the server-wide budget. */
  waitingForBudget: number;
  /** Connections refused: by acceptConnection, or at connectionsMax with none idle. */
  refused: number;
  /** Idle connections closed to make room at connectionsMax. */
  evicted: number;
}

/** Refusals are logged at most this often, with a count: a flood must not flood the log. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

export class RpcServer {
  readonly hostname: string;
  readonly port: number;
  private readonly listener: TCPSocketListener<RpcConnection | undefined>;
  private readonly connections = new Set<RpcConnection>();
  private readonly log: RpcLogger;
  private readonly budget: HeldBytesBudget;
  private readonly sweepTimer: ReturnType<typeof setInterval>;
  private stopping: Promise<void> | undefined;
  private refused = 0;
  private evicted = 0;
  private refusalsUnlogged = 0;
  private refusalLoggedMs = Number.NEGATIVE_INFINITY;

  private constructor(options: RpcServerOptions) {
    const log = options.log ?? consola.withTag("rpc");
    this.budget = new HeldBytesBudget(options.heldBytesMax ?? RPC_HELD_BYTES_MAX);
    const connectionOptions = {
      dispatcher: options.dispatcher,
      allow: options.allow,
      log,
      inFlightMax: options.inFlightPerConnectionMax ?? RPC_IN_FLIGHT_PER_CONNECTION_MAX,
      budget: this.budget,
      recordBuffers: new RecycledBuffers(RPC_RECORD_BYTES_MAX, RPC_RECORD_BUFFERS_POOLED),
      idleTimeoutMs: options.idleTimeoutMs ?? RPC_IDLE_TIMEOUT_SEC_DEFAULT * 1000,
      stallMs: options.stallMs ?? RPC_RECORD_STALL_MS,
    };
    const connectionsMax = options.connectionsMax ?? RPC_CONNECTIONS_MAX;
    const { idleTimeoutMs, stallMs } = connectionOptions;
    assert(connectionOptions.inFlightMax >= 1 && connectionsMax >= 1);
    assert(idleTimeoutMs >= 0 && stallMs > 0);
    this.log = log;
    const acceptConnection = options.acceptConnection;
    this.listener = Bun.listen<RpcConnection | undefined>({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      // Two servers silently sharing port 2049 would be a nightmare to debug.
      exclusive: true,
      // A client may send its calls, then FIN, and still expect the replies.
      allowHalfOpen: true,
      data: undefined,
      socket: {
        open: (socket) => {
          const address = socket.remoteAddress;
          if (this.stopping !== undefined) {
            socket.terminate();
            return;
          }
          if (acceptConnection !== undefined && !acceptConnection(address)) {
            this.refuse(`refusing RPC connection from ${address}: not in --allow`);
            socket.terminate();
            return;
          }
          if (this.connections.size >= connectionsMax && !this.evictIdlest()) {
            this.refuse(`refusing RPC connection from ${address}: ${connectionsMax} busy ones`);
            socket.terminate();
            return;
          }
          const connection = new RpcConnection(socket, connectionOptions);
          socket.data = connection;
          this.connections.add(connection);
          void connection.finished.then(() => this.connections.delete(connection));
        },
        data: (socket, chunk) => socket.data?.onData(chunk),
        end: (socket) => socket.data?.onEnd(),
        drain: (socket) => socket.data?.onDrain(),
        close: (socket) => socket.data?.onClose(),
        error: (socket, error) => {
          log.warn(`RPC connection from ${socket.remoteAddress}: ${error.message}`);
          socket.data?.abort();
        },
      },
    });
    this.hostname = this.listener.hostname;
    this.port = this.listener.port;
    assert(this.port > 0 && this.port <= 0xffff);
    const shortestMs = idleTimeoutMs > 0 ? Math.min(idleTimeoutMs, stallMs) : stallMs;
    const tickMs = Math.min(
      RPC_TIMER_TICK_MS_MAX,
      Math.max(RPC_TIMER_TICK_MS_MIN, Math.floor(shortestMs / 4)),
    );
    this.sweepTimer = setInterval(() => this.sweep(), tickMs);
    this.sweepTimer.unref();
  }

  private sweep(): void {
    const now = performance.now();
    for (const connection of this.connections) connection.checkTimers(now);
  }

  /** Closes the connection idle the longest, if any is idle; true if one was closed. */
  private evictIdlest(): boolean {
    let idlest: RpcConnection | undefined;
    for (const connection of this.connections) {
      if (!connection.isIdle) continue;
      if (idlest === undefined || connection.lastActivityMs < idlest.lastActivityMs) {
        idlest = connection;
      }
    }
    if (idlest === undefined) return false;
    this.log.debug(`closing idle RPC connection from ${idlest.client.address} to make room`);
    idlest.abort();
    // Its handlers are done (it is idle), so it leaves the set now rather than a tick later.
    this.connections.delete(idlest);
    this.evicted += 1;
    return true;
  }

  private refuse(message: string): void {
    this.refused += 1;
    this.refusalsUnlogged += 1;
    const now = performance.now();
    if (now - this.refusalLoggedMs < REFUSAL_LOG_INTERVAL_MS) return;
    const more = this.refusalsUnlogged > 1 ? ` (${this.refusalsUnlogged - 1} more refused)` : "";
    this.log.warn(`${message}${more}`);
    this.refusalsUnlogged = 0;
    this.refusalLoggedMs = now;
  }

  static listen(options: RpcServerOptions): RpcServer {
    return new RpcServer(options);
  }

  /** Totals over open connections; tests use them to check that memory stays bounded. */
  stats(): RpcServerStats {
    const total: RpcServerStats = {
      connections: 0,
      inFlight: 0,
      outputBytes: 0,
      inputBytes: 0,
      paused: false,
      heldBytes: this.budget.heldBytes,
      waitingForBudget: this.budget.waiters,
      refused: this.refused,
      evicted: this.evicted,
    };
    for (const connection of this.connections) {
      const stats = connection.stats();
      total.connections += 1;
      total.inFlight += stats.inFlight;
      total.outputBytes += stats.outputBytes;
      total.inputBytes += stats.inputBytes;
      total.paused ||= stats.paused;
    }
    return total;
  }

  /**
   * Stops accepting, lets in-flight calls finish and their replies flush, then closes.
   * Connections still open after graceMs (a client that never reads, a hung procedure) are
   * cut. Calling it again returns the same promise.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.stopGracefully(options.graceMs ?? RPC_STOP_GRACE_MS);
    return this.stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private async stopGracefully(graceMs: number): Promise<void> {
    clearInterval(this.sweepTimer);
    this.listener.stop(false);
    const connections = [...this.connections];
    for (const connection of connections) connection.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"expired">((resolve) => {
      timer = setTimeout(() => resolve("expired"), graceMs);
    });
    const all = Promise.all(connections.map((c) => c.finished)).then(() => "done" as const);
    const outcome = await Promise.race([all, expired]);
    clearTimeout(timer);
    if (outcome === "expired") {
      this.log.warn(
        `RPC server stop: cutting ${this.connections.size} connection(s) after ${graceMs} ms`,
      );
      for (const connection of this.connections) connection.abort();
    }
  }
}
