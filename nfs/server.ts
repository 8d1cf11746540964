/**
 * One NFSv3 server on one TCP port: NFS 100003 v3, MOUNT 100005 v3, NLM 100021 v4 with NSM
 * 100024 v1 (file locks, nlm/) and PORTMAP 100000 v2 (whose GETPORT answers that same port),
 * over one export of a VFS. `portmapPort` adds a listener that serves only PORTMAP, answering
 * the main port: a client's lockd asks the portmapper on port 111 and takes no port option.
 *
 *   await using server = await startNfsServer({ vfs, exportPath: "/", port: 0 });
 *   server.port;          // the bound port
 *   await server.stop();  // stop accepting, finish in-flight calls, close connections
 *
 * The VFS stays the caller's: stop() does not flush or close it (runtime.close() does).
 */
import { UserError } from "../src/errors.ts";
import { NLM_GRACE_SEC_DEFAULT } from "../src/limits.ts";
import { ROOT_CREDENTIALS } from "../src/posix.ts";
import type { Vfs } from "../src/vfs/interface.ts";
import { mountProgram } from "./mount/mount.ts";
import { resolveExport } from "./mount/path.ts";
import { NfsExport } from "./nfs3/context.ts";
import { nfs3Program } from "./nfs3/program.ts";
import { NLM_PROG } from "./nlm/constants.ts";
import { nsmProgram } from "./nlm/nsm.ts";
import { nlmProgram } from "./nlm/program.ts";
import { NlmService, type NlmServiceOptions } from "./nlm/service.ts";
import { NfsPolicy, type NfsPolicyOptions } from "./policy.ts";
import { portmapProgram } from "./portmap/portmap.ts";
import type { AccessDecision } from "./rpc/connection.ts";
import { AuthStat, RpcProgramNumber } from "./rpc/constants.ts";
import { Dispatcher, type RpcCall, type RpcLogger } from "./rpc/dispatcher.ts";
import { RpcServer, type RpcServerOptions } from "./rpc/server.ts";

export interface NfsServerOptions {
  vfs: Vfs;
  /** The directory of the volume to serve; default "/". */
  exportPath?: string;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** Default 0: a free port. */
  port?: number;
  policy?: NfsPolicy | NfsPolicyOptions;
  log?: RpcLogger;
  /** A stopping server waits this long for in-flight calls before cutting connections. */
  stopGraceMs?: number;
  /** Connection limits and timers (idle timeout, stalls, held bytes); defaults in limits.ts. */
  /**
   * Locks over NLM: the grace period after start (default NLM_GRACE_SEC_DEFAULT), and the port
   * of clients' portmappers for answers to asynchronous messages (default 111).
   */
  nlm?: Partial<
    Pick<NlmServiceOptions, "graceMs" | "callbackPortmapPort" | "statePath" | "serverName">
  >;
  /** A second listener (same hostname) serving PORTMAP only, e.g. 111; default none. */
  portmapPort?: number;
  connections?: Pick<
    RpcServerOptions,
    "idleTimeoutMs" | "stallMs" | "heldBytesMax" | "connectionsMax"
  >;
}

export interface NfsServer {
  readonly hostname: string;
  readonly port: number;
  /** The PORTMAP-only listener's port, when `portmapPort` was given. */
  readonly portmapPort: number | undefined;
  readonly export: NfsExport;
  readonly nlm: NlmService;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startNfsServer(options: NfsServerOptions): Promise<NfsServer> {
  const policy =
    options.policy instanceof NfsPolicy ? options.policy : new NfsPolicy(options.policy);
  const root = await resolveExport(options.vfs, ROOT_CREDENTIALS, options.exportPath ?? "/");
  if (!policy.exposeTrash && (root.path === TRASH_PATH || root.path.startsWith(`${TRASH_PATH}/`))) {
    throw new UserError(`--export ${root.path}: the trash is served only with --expose-trash`);
  }
  const exp = new NfsExport({
    vfs: options.vfs,
    policy,
    exportPath: root.path,
    exportRoot: root.inode,
  });
  const logOption = options.log === undefined ? {} : { log: options.log };
  const dispatcher = new Dispatcher(logOption);
  dispatcher.register(portmapProgram(dispatcher));
  dispatcher.register(mountProgram(exp));
  dispatcher.register(nfs3Program(exp, options.log));
  const nlm = new NlmService(exp, {
    ...options.nlm,
    graceMs: options.nlm?.graceMs ?? NLM_GRACE_SEC_DEFAULT * 1000,
    ...logOption,
  });
  dispatcher.register(nlmProgram(nlm));
  dispatcher.register(nsmProgram(nlm));
  const rpc = RpcServer.listen({
    dispatcher,
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    // Per connection as well as per call: a refused address then holds no connection slot.
    acceptConnection: (address) => policy.isAllowed(address),
    allow: (call) => nfsPortDecision(policy, call),
    ...options.connections,
    ...logOption,
  });
  let portmap: RpcServer | undefined;
  if (options.portmapPort !== undefined) {
    const portmapOnly = new Dispatcher(logOption);
    portmapOnly.register(portmapProgram(dispatcher, { port: () => rpc.port }));
    try {
      portmap = RpcServer.listen({
        dispatcher: portmapOnly,
        hostname: options.hostname ?? "127.0.0.1",
        port: options.portmapPort,
        acceptConnection: (address) => policy.isAllowed(address),
        ...options.connections,
        ...logOption,
      });
    } catch (error) {
      await rpc.stop();
      throw new UserError(
        `Cannot serve PORTMAP on port ${options.portmapPort} (--portmap-port): ${portmapListenError(error)}`,
      );
    }
  }
  await nlm.start();
  const stopOptions = options.stopGraceMs === undefined ? {} : { graceMs: options.stopGraceMs };
  const stop = async () => {
    nlm.close();
    await Promise.all([rpc.stop(stopOptions), portmap?.stop(stopOptions)]);
  };
  return {
    hostname: rpc.hostname,
    port: rpc.port,
    portmapPort: portmap?.port,
    export: exp,
    nlm,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Why the PORTMAP-only listener could not bind, in words (Bun's message names no cause). */
function portmapListenError(error: unknown): string {
  const code = error instanceof Error && "code" in error ? error.code : undefined;
  if (code === "EADDRINUSE") {
    return "address already in use (an rpcbind on this host? locks need that port for jfs)";
  }
  if (code === "EACCES") return "permission denied (ports below 1024 need root)";
  return error instanceof Error ? error.message : String(error);
}

const TRASH_PATH = "/.trash";
const ALLOWED: AccessDecision = { action: "allow" };
const TOO_WEAK: AccessDecision = { action: "deny", authStat: AuthStat.AUTH_TOOWEAK };

/**
 * The reserved-port rule for NFS and NLM calls (MOUNT answers MNT3ERR_ACCES itself, PORTMAP,
 * NSM and NULL stay open): AUTH_TOOWEAK, which the Linux client reports as EACCES, as knfsd
 * does. NLM too: an unprivileged process could otherwise take or free any client's locks.
 */
function nfsPortDecision(policy: NfsPolicy, call: RpcCall): AccessDecision {
  const guarded = call.prog === RpcProgramNumber.NFS || call.prog === NLM_PROG;
  if (!guarded || call.proc === 0) return ALLOWED;
  return policy.isPortAllowed(call.client.port) ? ALLOWED : TOO_WEAK;
}
