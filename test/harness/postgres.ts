/**
 * A real PostgreSQL server for tests: Debian's initdb and postgres binaries, a cluster in a fresh
 * temp directory owned by an unprivileged user (postgres refuses to run as root, and the tests
 * run as root), listening on 127.0.0.1 on a free port with its unix socket in that directory.
 * Clients log in as "jfs" with a password (scram-sha-256, so a wrong one is really refused).
 * Stopped by its own PID, never by name: a system cluster or a parallel test run is left alone.
 *
 *   await using pg = await startPostgres();
 *   const url = await pg.createDatabase("t1"); // postgres://jfs:...@127.0.0.1:PORT/t1
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { SQL, type Subprocess } from "bun";
import { makeCertificate } from "./redis.ts";

export interface PostgresServer {
  port: number;
  readonly password: string;
  /** The URL of database `db` (default "postgres"), with user and password. */
  url(db?: string, password?: string): string;
  /** Creates database `name` and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Runs `sql` (one or more statements, no parameters) in database `db` as the superuser. */
  query(db: string, sql: string): Promise<void>;
  /**
   * Stops the server (SIGINT: fast shutdown; SIGQUIT: immediate, crash recovery at start) and starts it again on the same
   * port and data directory; resolves when it accepts connections again.
   */
  restart(signal?: "SIGINT" | "SIGQUIT", downMs?: number): Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface PostgresServerOptions {
  /** fsync and synchronous commit as in production (the bench); tests run without fsync. */
  durable?: boolean;
  /** TLS only over TCP (hostssl), with a self-signed certificate for 127.0.0.1. */
  tls?: boolean;
}

const PASSWORD = "jfs-test-secret";
const USER = "jfs";
const STARTUP_TIMEOUT_MS = 30_000;
const BIND_ATTEMPTS_MAX = 5;
const OUTPUT_KEPT_BYTES_MAX = 16 * 1024;

/** The directory of Debian's server binaries (/usr/lib/postgresql/VERSION/bin), newest first. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

function systemId(flag: "-u" | "-g"): number | undefined {
  const result = Bun.spawnSync(["id", flag, "postgres"], { stdout: "pipe", stderr: "ignore" });
  return result.success ? Number(result.stdout.toString().trim()) : undefined;
}

/** Runs as the "postgres" system user when we are root (the package creates it). */
function asServerUser(args: string[]): string[] {
  if (userInfo().uid !== 0) return args;
  return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", ...args];
}

export async function startPostgres(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("PostgreSQL is not installed (apt-get install postgresql)");
  const directory = await mkdtemp(join(tmpdir(), "jfs-pg-"));
  const data = join(directory, "data");
  const pwfile = join(directory, "pwfile");
  writeFileSync(pwfile, `${PASSWORD}\n`);
  if (userInfo().uid === 0) {
    const uid = systemId("-u");
    const gid = systemId("-g");
    if (uid === undefined || gid === undefined) {
      throw new Error('no "postgres" user: is Debian\'s postgresql installed?');
    }
    chownSync(directory, uid, gid);
    chownSync(pwfile, uid, gid);
  }
  const init = Bun.spawnSync(
    asServerUser([
      join(bin, "initdb"),
      "-D",
      data,
      "-U",
      USER,
      `--pwfile=${pwfile}`,
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "--no-sync",
      "--no-locale",
      "-E",
      "UTF8",
    ]),
    { stdout: "pipe", stderr: "pipe" },
  );
  if (!init.success) {
    await rm(directory, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr.toString()}`);
  }

  const tlsArgs = options.tls === true ? await enableTls(directory, data) : [];
  let port = 0;
  let child: Subprocess<"ignore", "pipe", "pipe"> | undefined;
  const killOnExit = (): void => {
    child?.kill("SIGKILL");
  };
  process.once("exit", killOnExit);

  const launch = async (): Promise<void> => {
    const durability = options.durable === true ? [] : ["-c", "fsync=off"];
    child = Bun.spawn(
      asServerUser([
        join(bin, "postgres"),
        "-D",
        data,
        "-k",
        directory,
        "-p",
        String(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "max_connections=200",
        ...durability,
        ...tlsArgs,
      ]),
      { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
    );
    await waitUntilReady(child);
  };

  const halt = async (signal: "SIGINT" | "SIGQUIT" | "SIGKILL"): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running) return;
    running.kill(signal);
    await running.exited;
  };

  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error: unknown) {
      await halt("SIGKILL");
      if (attempt >= BIND_ATTEMPTS_MAX || !String(error).includes("in use")) {
        process.off("exit", killOnExit);
        await rm(directory, { recursive: true, force: true });
        throw error;
      }
    }
  }

  const url = (db = "postgres", password = PASSWORD): string =>
    `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
  const query = async (db: string, sql: string): Promise<void> => {
    // Over the unix socket (trust for local logins): works whatever TCP requires (TLS).
    const admin = new SQL({
      hostname: "localhost",
      path: directory,
      port,
      username: USER,
      database: db,
      max: 1,
    });
    try {
      await admin.unsafe(sql).simple();
    } finally {
      await admin.close();
    }
  };
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.off("exit", killOnExit);
      // Immediate shutdown: the data is thrown away, so no shutdown checkpoint is worth waiting for.
      await halt("SIGQUIT");
      await rm(directory, { recursive: true, force: true });
    })();
    return stopped;
  };
  return {
    port,
    password: PASSWORD,
    url,
    async createDatabase(name: string): Promise<string> {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      await query("postgres", `CREATE DATABASE ${name}`);
      return url(name);
    },
    query,
    async restart(signal = "SIGINT", downMs = 0): Promise<void> {
      await halt(signal);
      if (downMs > 0) await Bun.sleep(downMs);
      await launch();
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** A certificate the server user can read, and TCP logins over TLS only. */
async function enableTls(directory: string, data: string): Promise<string[]> {
  const { cert, key } = await makeCertificate(directory);
  chmodSync(key, 0o600);
  if (userInfo().uid === 0) {
    for (const file of [cert, key]) chownSync(file, systemId("-u")!, systemId("-g")!);
  }
  const hba = join(data, "pg_hba.conf");
  writeFileSync(hba, readFileSync(hba, "utf8").replace(/^host(\s)/gm, "hostssl$1"));
  return ["-c", "ssl=on", "-c", `ssl_cert_file=${cert}`, "-c", `ssl_key_file=${key}`];
}

/** Resolves at the server's "ready to accept connections" log line; rejects if it exits. */
async function waitUntilReady(child: Subprocess<"ignore", "pipe", "pipe">): Promise<void> {
  let output = "";
  const decoder = new TextDecoder();
  const reader = child.stderr.getReader();
  const timer = setTimeout(() => child.kill("SIGKILL"), STARTUP_TIMEOUT_MS);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`postgres exited (${await child.exited}): ${output}`);
      output = (output + decoder.decode(value)).slice(-OUTPUT_KEPT_BYTES_MAX);
      if (output.includes("database system is ready to accept connections")) break;
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  // Keep draining both pipes so the server never blocks on a full one.
  void child.stderr.pipeTo(new WritableStream()).catch(() => undefined);
  void child.stdout.pipeTo(new WritableStream()).catch(() => undefined);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
