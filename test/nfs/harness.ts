/**
 * NFS servers for tests, on temp SQLite volumes: in this process (startNfs: fast, and the test
 * can reach the VFS), or as a real `jfs serve --nfs --port 0` child (spawnServe: the CLI, its
 * output and its signal handling), stopped by its own PID.
 *
 * Both loosen the server's safe defaults unless told not to (`secure: true`): test clients
 * (the RPC client, libnfs as non-root, the VM's kernel client behind qemu's NAT) connect from
 * unreserved ports, and most tests act as root. TEST_LOOSE_POLICY / TEST_LOOSE_ARGS say how.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { NfsPolicyOptions } from "../../nfs/policy.ts";
import type { RpcLogger } from "../../nfs/rpc/dispatcher.ts";
import { type NfsServer, startNfsServer } from "../../nfs/server.ts";
import { openMeta } from "../../src/meta/index.ts";
import { formatVolume, newFormat } from "../../src/volume/open.ts";
import { openRuntime, type Runtime } from "../../src/volume/runtime.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const READY = /^nfs: serving (\S+) on (\S+):(\d+)$/m;
const START_TIMEOUT_MS = 30_000;

/** What tests run with unless they test the defaults: any source port, uid 0 is root. */
export const TEST_LOOSE_POLICY: NfsPolicyOptions = { insecure: true, squash: "none" };
export const TEST_LOOSE_ARGS = ["--insecure", "--squash", "none"];

export const quietLog: RpcLogger = {
  error: (...args: unknown[]) => console.error(...args),
  warn: () => {},
  info: () => {},
  debug: () => {},
};

export interface TestVolume {
  dir: string;
  metaUrl: string;
  bucket: string;
  name: string;
  /** HOME for child processes (never the real ~/.jfs). */
  home: string;
  [Symbol.dispose](): void;
}

/**
 * A fresh volume: SQLite meta and a file bucket in a temp dir; trash off unless asked.
 * `capacityBytes` sets the space quota below `jfs format --capacity`'s whole GiB, so that a
 * test reaches ENOSPC in a few KiB.
 */
export async function makeVolume(
  options: {
    trashDays?: number;
    metaUrl?: string;
    capacityBytes?: number;
    /** "none": objects without a CRC trailer, so cached blocks are whole, pool-owned buffers. */
    checksum?: "crc32" | "none";
  } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), "jfs-nfs-"));
  const metaUrl = options.metaUrl ?? `sqlite3://${join(dir, "meta.db")}`;
  const bucket = join(dir, "bucket");
  const name = "nfsvol";
  const home = join(dir, "home");
  const meta = await openMeta(metaUrl);
  try {
    const format = newFormat({
      name,
      bucket,
      trashDays: options.trashDays ?? 0,
      capacityBytes: options.capacityBytes ?? 0,
      ...(options.checksum !== undefined && { checksum: options.checksum }),
    });
    await formatVolume(meta, format, false);
  } finally {
    await meta.close();
  }
  const volume: TestVolume = {
    dir,
    metaUrl,
    bucket,
    name,
    home,
    [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }),
  };
  return volume;
}

export interface InProcessNfs {
  server: NfsServer;
  runtime: Runtime;
  port: number;
  /** Stops the server, then flushes and closes the volume. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startNfs(
  volume: TestVolume,
  options: {
    policy?: NfsPolicyOptions;
    exportPath?: string;
    secure?: boolean;
    /** NLM's grace period (default 0 here: tests lock at once) and a PORTMAP-only port. */
    lockGraceMs?: number;
    portmapPort?: number;
    /** Where the server finds clients' lockd and statd (NLM *_MSG answers, SM_NOTIFY). */
    callbackPortmapPort?: number;
    /** NLM's list of hosts holding locks, and the name the server notifies them with. */
    statePath?: string;
    serverName?: string;
  } = {},
): Promise<InProcessNfs> {
  const runtime = await openRuntime(volume.metaUrl, { cacheDir: "memory" }, "nfs-test");
  const loose = options.secure === true ? {} : TEST_LOOSE_POLICY;
  const server = await startNfsServer({
    vfs: runtime.vfs,
    port: 0,
    log: quietLog,
    policy: { ...loose, ...options.policy },
    nlm: {
      graceMs: options.lockGraceMs ?? 0,
      ...(options.callbackPortmapPort !== undefined && {
        callbackPortmapPort: options.callbackPortmapPort,
      }),
      ...(options.statePath !== undefined && { statePath: options.statePath }),
      ...(options.serverName !== undefined && { serverName: options.serverName }),
    },
    ...(options.portmapPort !== undefined && { portmapPort: options.portmapPort }),
    ...(options.exportPath !== undefined && { exportPath: options.exportPath }),
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= server.stop().finally(() => runtime.close());
    return stopping;
  };
  return { server, runtime, port: server.port, stop, [Symbol.asyncDispose]: stop };
}

export interface ServeProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  /** Everything printed to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Sends the signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * `jfs serve --nfs --port PORT [TEST_LOOSE_ARGS] ...args META-URL` as a child (port 0 unless
 * given); resolves once it is serving.
 */
export async function spawnServe(
  volume: Pick<TestVolume, "metaUrl" | "home">,
  args: string[] = [],
  options: {
    port?: number;
    openFilesMax?: number;
    secure?: boolean;
    /** More environment variables (the gateway's keys for --s3). */
    env?: Record<string, string>;
    /** Flags for bun itself (bench/nfsrpc.ts profiles the server with --cpu-prof). */
    bunArgs?: string[];
  } = {},
): Promise<ServeProcess> {
  const port = String(options.port ?? 0);
  const serveArgv = [
    "bun",
    ...(options.bunArgs ?? []),
    MAIN,
    "serve",
    "--nfs",
    "--port",
    port,
    "--cache-dir",
    "memory",
  ];
  if (options.secure !== true) serveArgv.push(...TEST_LOOSE_ARGS);
  // `exec` keeps the PID: stop() and /proc/PID are the server's own.
  const argv =
    options.openFilesMax === undefined
      ? serveArgv
      : ["sh", "-c", `ulimit -n ${options.openFilesMax} && exec "$@"`, "sh", ...serveArgv];
  const proc = Bun.spawn([...argv, ...args, volume.metaUrl], {
    env: { ...process.env, ...options.env, HOME: volume.home },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const killOnExit = () => proc.kill("SIGKILL");
  process.once("exit", killOnExit);
  let out = "";
  let err = "";
  const collect = async (stream: ReadableStream<Uint8Array>, add: (text: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) add(decoder.decode(chunk, { stream: true }));
  };
  void collect(proc.stdout, (t) => {
    out += t;
  });
  void collect(proc.stderr, (t) => {
    err += t;
  });
  const deadline = performance.now() + START_TIMEOUT_MS;
  let match = READY.exec(out);
  while (match === null) {
    if (proc.exitCode !== null || performance.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`jfs serve did not start (exit ${proc.exitCode}): ${err}${out}`);
    }
    await Bun.sleep(10);
    match = READY.exec(out);
  }
  const boundPort = Number(match[3]);
  let exited: Promise<number> | undefined;
  const stop = (signal: NodeJS.Signals = "SIGTERM") => {
    exited ??= (async () => {
      proc.kill(signal);
      const code = await proc.exited;
      process.off("exit", killOnExit);
      return code;
    })();
    return exited;
  };
  return {
    proc,
    port: boundPort,
    stdout: () => out,
    stderr: () => err,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}
