/**
 * jfs serve --nfs [options] [META-URL] — serves a volume over NFSv3 (NFS, MOUNT and PORTMAP on
 * one TCP port), in the foreground; with --s3 HOST:PORT the S3 gateway too, in the same process
 * on the same runtime (one VFS, cache and session: what one writes the other reads at once).
 *
 * Ready means: the volume is open, the export resolved and the port bound; then exactly one
 * line "nfs: serving NAME on HOST:PORT" goes to stdout, followed by mount commands (and with --s3
 * the gateway's line "s3: serving NAME on http://HOST:PORT"). SIGINT or
 * SIGTERM stops accepting, lets in-flight calls finish, flushes every buffered write and closes
 * the session, saying what it waits for and giving up if the object store stays down
 * (stopping.ts); a second signal exits at once (buffered, uncommitted writes are then lost, which
 * NFS clients notice by the new write verifier and resend).
 */
import { homedir } from "node:os";
import { join } from "node:path";
import type { CAC } from "cac";
import { NfsPolicy, type Squash } from "../../nfs/policy.ts";
import type { NfsServer } from "../../nfs/server.ts";
import { describeError, UserError } from "../errors.ts";
import type { GatewayServer } from "../gateway/server.ts";
import {
  NFS_PORT_DEFAULT,
  NLM_GRACE_SEC_DEFAULT,
  RPC_IDLE_TIMEOUT_SEC_DEFAULT,
} from "../limits.ts";
import { log } from "../log.ts";
import { openRuntime, type Runtime } from "../volume/runtime.ts";
import { listenS3, s3ConfigOf, s3ReadyText } from "./gateway.ts";
import { type Metrics, type MetricsFlags, withMetrics, withMetricsFlags } from "./metrics.ts";
import { parseChoiceFlag, parseIntFlag, stringFlag } from "./options.ts";
import { type DataFlags, runtimeOptions, withDataFlags, withSessionFlags } from "./runtime.ts";
import { type Served, serveUntilSignal } from "./stopping.ts";

export interface ServeFlags extends DataFlags, MetricsFlags {
  nfs?: boolean;
  bind?: unknown;
  port?: unknown;
  export?: unknown;
  readOnly?: boolean;
  allow?: unknown;
  squash?: unknown;
  /** cac's "--no-root-squash": false when given. */
  rootSquash?: boolean;
  insecure?: boolean;
  exposeTrash?: boolean;
  anonuid?: unknown;
  anongid?: unknown;
  idleTimeout?: unknown;
  /** --portmap-port P: a PORTMAP-only listener (111 for clients' lockd). */
  portmapPort?: unknown;
  /** --lock-grace SEC: NLM's grace period after start. */
  lockGrace?: unknown;
  /** --lock-state FILE: the hosts holding NLM locks, told to reclaim after a restart. */
  lockState?: unknown;
  /** --s3 HOST:PORT: the S3 gateway too, in this process, on the same runtime. */
  s3?: unknown;
}

export interface ServeConfig {
  hostname: string;
  port: number;
  exportPath: string;
  policy: NfsPolicy;
  idleTimeoutMs: number;
  portmapPort: number | undefined;
  lockGraceMs: number;
  lockStatePath: string | undefined;
}

/** An hour: a longer NLM grace period would only keep locks away. */
const LOCK_GRACE_SEC_MAX = 3600;

const ID_MAX = 0xffff_ffff;
/** A day: longer is "never", which is 0. */
const IDLE_TIMEOUT_SEC_MAX = 86_400;

/** Every flag checked before anything is opened. */
export function serveConfigOf(flags: ServeFlags): ServeConfig {
  if (flags.nfs !== true) {
    throw new UserError(
      "jfs serve needs a protocol: --nfs (with --s3 HOST:PORT for S3 as well; S3 alone is jfs gateway)",
    );
  }
  const hostname = stringFlag(flags.bind) ?? "127.0.0.1";
  const port =
    flags.port === undefined ? NFS_PORT_DEFAULT : parseIntFlag("port", flags.port, 0, 65535);
  const exportPath = stringFlag(flags.export) ?? "/";
  const allow = allowOf(flags.allow);
  const policy = new NfsPolicy({
    allow,
    squash: squashOf(flags),
    readOnly: flags.readOnly === true,
    insecure: flags.insecure === true,
    exposeTrash: flags.exposeTrash === true,
    ...(flags.anonuid !== undefined && {
      anonUid: parseIntFlag("anonuid", flags.anonuid, 0, ID_MAX),
    }),
    ...(flags.anongid !== undefined && {
      anonGid: parseIntFlag("anongid", flags.anongid, 0, ID_MAX),
    }),
  });
  if (flags.s3 !== undefined && (flags.readOnly === true || exportPath !== "/")) {
    // The gateway serves the whole volume, writable: it would quietly undo both.
    throw new UserError(
      "--s3 serves the whole volume read-write: it cannot be combined with --read-only or --export (not yet)",
    );
  }
  const idleTimeoutMs =
    flags.idleTimeout === undefined
      ? RPC_IDLE_TIMEOUT_SEC_DEFAULT * 1000
      : parseIntFlag("idle-timeout", flags.idleTimeout, 0, IDLE_TIMEOUT_SEC_MAX) * 1000;
  const portmapPort =
    flags.portmapPort === undefined
      ? undefined
      : parseIntFlag("portmap-port", flags.portmapPort, 0, 65535);
  const lockGraceMs =
    flags.lockGrace === undefined
      ? NLM_GRACE_SEC_DEFAULT * 1000
      : parseIntFlag("lock-grace", flags.lockGrace, 0, LOCK_GRACE_SEC_MAX) * 1000;
  // Kept per port: clients mount a port, and with --port 0 there is none to come back to.
  const lockState = stringFlag(flags.lockState);
  const lockStatePath =
    lockState !== undefined
      ? expandHome(lockState)
      : port === 0
        ? undefined
        : join(homedir(), ".jfs", "nlm", `hosts-${port}.json`);
  return {
    hostname,
    port,
    exportPath,
    policy,
    idleTimeoutMs,
    portmapPort,
    lockGraceMs,
    lockStatePath,
  };
}

/** --squash (default root, as knfsd's root_squash); --no-root-squash is --squash none. */
function squashOf(flags: ServeFlags): Squash {
  const squash: Squash =
    flags.squash === undefined
      ? "root"
      : parseChoiceFlag("squash", flags.squash, ["none", "root", "all"]);
  if (flags.rootSquash !== false) return squash;
  if (flags.squash !== undefined && squash !== "none") {
    throw new UserError(`--no-root-squash contradicts --squash ${squash}`);
  }
  return "none";
}

/**
 * --allow's CIDRs, [] (everyone) when absent. Given but blank ("", " ", ",") is an error: a
 * variable that expanded to nothing must not open the export to everyone.
 */
function allowOf(flag: unknown): string[] {
  if (flag === undefined) return [];
  const flags = Array.isArray(flag) ? flag : [flag];
  const allow = flags
    .flatMap((value) => (typeof value === "boolean" ? [""] : String(value).split(",")))
    .map((text) => text.trim())
    .filter((text) => text !== "");
  if (allow.length === 0) {
    throw new UserError(
      "--allow needs at least one IP address or CIDR (omit it to allow everyone)",
    );
  }
  return allow;
}

function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? homedir() + path.slice(1) : path;
}

/** "host:port" with IPv6 hosts in brackets. */
function hostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

export function readyText(name: string, server: NfsServer, exportPath: string): string {
  const host = server.hostname.includes(":") ? `[${server.hostname}]` : server.hostname;
  const p = server.port;
  // Locks (NLM) work once a client's lockd can ask the portmapper on port 111.
  const locks = server.portmapPort === 111;
  return [
    `nfs: serving ${name} on ${hostPort(server.hostname, p)}`,
    "mount it with:",
    // nosuid,nodev: setuid programs and device files on the volume grant nothing on the client.
    `  Linux: mount -t nfs -o vers=3,tcp,port=${p},mountport=${p},${locks ? "" : "nolock,"}nosuid,nodev ${host}:${exportPath} DIR`,
    `  macOS: mount -t nfs -o vers=3,tcp,port=${p},mountport=${p},${locks ? "" : "nolocks,locallocks,"}resvport,nosuid,nodev ${host}:${exportPath} DIR`,
    ...(locks
      ? []
      : ["  (locks shared with other clients: add --portmap-port 111, then mount without nolock)"]),
    "",
  ].join("\n");
}

async function listen(runtime: Runtime, config: ServeConfig): Promise<NfsServer> {
  // Loaded here, not at start-up: the other commands (and --version) need no NFS code.
  const { startNfsServer } = await import("../../nfs/server.ts");
  try {
    return await startNfsServer({
      vfs: runtime.vfs,
      exportPath: config.exportPath,
      hostname: config.hostname,
      port: config.port,
      policy: config.policy,
      connections: { idleTimeoutMs: config.idleTimeoutMs },
      nlm: {
        graceMs: config.lockGraceMs,
        ...(config.lockStatePath !== undefined && { statePath: config.lockStatePath }),
      },
      ...(config.portmapPort !== undefined && { portmapPort: config.portmapPort }),
    });
  } catch (error) {
    if (error instanceof UserError) throw error;
    const where = hostPort(config.hostname, config.port);
    throw new UserError(`Cannot serve NFS on ${where}: ${explainListenError(error)}`);
  }
}

/** Bun says "Failed to listen at HOST" whatever went wrong; its code says what. */
function explainListenError(error: unknown): string {
  const code = error instanceof Error && "code" in error ? error.code : undefined;
  if (code === "EADDRINUSE") {
    return "address already in use (another server has that port: choose another --port, or --port 0)";
  }
  if (code === "EACCES") return "permission denied (ports below 1024 need root)";
  if (code === "EADDRNOTAVAIL") return "address not available (no interface of this host has it)";
  return describeError(error);
}

/** Serves until SIGINT/SIGTERM, then shuts down in order. */
export async function serveNfs(
  metaUrl: string | undefined,
  flags: ServeFlags,
  metrics?: Metrics,
): Promise<void> {
  const config = serveConfigOf(flags);
  if (config.policy.insecure && config.policy.squash === "none") {
    // Both loosened: any process that can reach the port can send uid 0 and be root.
    log.warn("nfs: --insecure with --squash none: any local process can act as root on the volume");
  }
  // The gateway's keys and address are checked before anything is opened, as NFS's flags.
  const s3Config =
    flags.s3 === undefined ? undefined : await s3ConfigOf(flags.s3, {}, process.env, "s3");
  // The session's "mount point" names every server of the process (jfs status shows it).
  const s3Where = (port: number) =>
    s3Config === undefined ? "" : ` s3://${hostPort(s3Config.hostname, port)}`;
  const where = `nfs://${hostPort(config.hostname, config.port)}${config.exportPath}${s3Where(s3Config?.port ?? 0)}`;
  const runtime = await openRuntime(metaUrl, runtimeOptions(flags), where);
  metrics?.attach(runtime);
  let server: NfsServer;
  let s3: GatewayServer | undefined;
  try {
    server = await listen(runtime, config);
    if (s3Config !== undefined) {
      s3 = await listenS3(runtime, s3Config).catch(async (error: unknown) => {
        await server.stop();
        throw error;
      });
    }
  } catch (error) {
    await runtime.close().catch(() => undefined);
    throw error;
  }
  // The session was opened with the port asked for; with --port 0 only now is the real one known.
  const served = `nfs://${hostPort(server.hostname, server.port)}${server.export.exportPath}${s3Where(s3?.port ?? 0)}`;
  if (served !== where) {
    await runtime.updateMountPoint(served).catch((error: unknown) => {
      log.warn(`session: cannot record ${served}: ${describeError(error)}`);
    });
  }
  const servers: Served[] = [{ name: "the NFS server", stop: () => server.stop() }];
  let ready = readyText(runtime.format.name, server, server.export.exportPath);
  if (s3 !== undefined && s3Config !== undefined) {
    const gateway = s3;
    servers.push({ name: "the S3 gateway", stop: () => gateway.stop() });
    ready += s3ReadyText(runtime.format.name, s3Config.hostname, gateway);
  }
  ready += metrics?.readyLine ?? "";
  // One runtime: the servers stop first, then its writes are flushed and the session closed.
  await serveUntilSignal(servers, ready, () => runtime.close());
  log.info("nfs: stopped");
}

export function registerServe(cli: CAC): void {
  const command = cli
    .command("serve [META-URL]", "Serve a volume over NFSv3 (jfs serve --nfs [META-URL])")
    .option("--nfs", "Serve NFSv3: NFS, MOUNT and PORTMAP on one TCP port")
    .option("--bind <address>", "Address to listen on (default: 127.0.0.1)")
    .option("--port <port>", `TCP port, 0 = any free one (default: ${NFS_PORT_DEFAULT})`)
    .option("--export <path>", "Directory of the volume to export (default: /)")
    .option("--read-only", "Refuse every change (NFS3ERR_ROFS)")
    .option("--allow <cidrs>", "Clients allowed, comma-separated CIDRs (default: everyone)")
    .option("--squash <mode>", "Map users to anonuid/anongid: none, root or all (default: root)")
    .option("--no-root-squash", "Same as --squash none: AUTH_SYS uid 0 acts as root")
    .option("--insecure", "Accept calls from unreserved source ports >= 1024 (non-root clients)")
    .option("--expose-trash", "Let an export of / reach /.trash (default: never over NFS)")
    .option("--anonuid <uid>", "uid of AUTH_NONE and squashed users (default: 65534)")
    .option("--anongid <gid>", "gid of AUTH_NONE and squashed users (default: 65534)")
    .option(
      "--idle-timeout <sec>",
      `Close connections idle this long, 0 = never (default: ${RPC_IDLE_TIMEOUT_SEC_DEFAULT})`,
    )
    .option(
      "--portmap-port <port>",
      "Also answer PORTMAP on this port (111: what a client's lockd asks; locks need it)",
    )
    .option(
      "--lock-grace <sec>",
      `After start, grant only reclaimed NLM locks for this long (default: ${NLM_GRACE_SEC_DEFAULT})`,
    )
    .option(
      "--lock-state <file>",
      "Hosts holding NLM locks, told to reclaim after a restart (default: ~/.jfs/nlm/hosts-PORT.json)",
    )
    .option(
      "--s3 <host:port>",
      "Serve the S3 gateway too, in this process (keys as for jfs gateway; port 0 = any)",
    );
  withMetricsFlags(withSessionFlags(withDataFlags(command)))
    .example("jfs serve --nfs")
    .example("jfs serve --nfs --port 0 --export /datasets --read-only sqlite3://myjfs.db")
    .example(
      "JFS_GATEWAY_ACCESS_KEY=admin JFS_GATEWAY_SECRET_KEY=secret123 jfs serve --nfs --s3 127.0.0.1:9000",
    )
    .action(async (metaUrl: unknown, flags: ServeFlags) => {
      serveConfigOf(flags); // a bad flag is its one line before even the metrics port is bound
      await withMetrics(flags, (metrics) => serveNfs(stringFlag(metaUrl), flags, metrics));
    });
}
