/**
 * ONC RPC over TCP: one port serves every registered program. PORTMAP, MOUNT and NFS share
 * it, so clients are given the same number twice (Linux: -o port=P,mountport=P; libnfs:
 * nfs://host/path?nfsport=P&mountport=P, which then never asks a portmapper on port 111).
 *
 * Built on Bun.listen rather than node:net: its write() reports how much the kernel took,
 * so our own queue is the only user-space buffer and back-pressure is exact (see
 * connection.ts). The client's source port is never checked (no "secure port" rule): that
 * rule authenticates nothing. Access policy belongs to the `allow` hook.
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
  RPC_IN_FLIGHT_PER_CONNECTION_MAX,
  RPC_STOP_GRACE_MS,
} from "../../src/limits.ts";
import { type AllowHook, type ConnectionStats, RpcConnection } from "./connection.ts";
import type { Dispatcher, RpcLogger } from "./dispatcher.ts";

export interface RpcServerOptions {
  dispatcher: Dispatcher;
  /** Address to bind; default 127.0.0.1. */
  hostname?: string;
  /** Port to bind; 0 (the default) picks a free one, read it back from `port`. */
  port?: number;
  allow?: AllowHook;
  log?: RpcLogger;
  inFlightPerConnectionMax?: number;
  connectionsMax?: number;
}

export interface RpcServerStats extends ConnectionStats {
  connections: number;
}

export class RpcServer {
  readonly hostname: string;
  readonly port: number;
  private readonly listener: TCPSocketListener<RpcConnection | undefined>;
  private readonly connections = new Set<RpcConnection>();
  private readonly log: RpcLogger;
  private stopping: Promise<void> | undefined;

  private constructor(options: RpcServerOptions) {
    const log = options.log ?? consola.withTag("rpc");
    const connectionOptions = {
      dispatcher: options.dispatcher,
      allow: options.allow,
      log,
      inFlightMax: options.inFlightPerConnectionMax ?? RPC_IN_FLIGHT_PER_CONNECTION_MAX,
    };
    const connectionsMax = options.connectionsMax ?? RPC_CONNECTIONS_MAX;
    assert(connectionOptions.inFlightMax >= 1 && connectionsMax >= 1);
    this.log = log;
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
          if (this.stopping !== undefined || this.connections.size >= connectionsMax) {
            log.warn(`refusing RPC connection from ${socket.remoteAddress}: server busy`);
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
