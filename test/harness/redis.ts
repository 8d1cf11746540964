/**
 * A real redis-server for tests: a child process on 127.0.0.1 with a free port, no persistence,
 * working in a fresh temp directory, optionally with a password or TLS only (a self-signed
 * certificate made with openssl, which is also the CA file clients trust). Stopped by its own PID,
 * never by name, so parallel test runs and a developer's own redis-server are left alone.
 *
 *   await using redis = await startRedis();
 *   const engine = await RedisEngine.open(redis.url(1));
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export interface RedisServer {
  port: number;
  /** "redis://[:password@]127.0.0.1:PORT/DB", or rediss:// with TLS. */
  url(db?: number): string;
  /** With TLS: the server's self-signed certificate, to pass as tls-ca-cert-file. */
  caCertFile?: string;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface RedisServerOptions {
  password?: string;
  /** A fixed port (to restart a server where clients expect it); default: a free one. */
  port?: number;
  /** Serve TLS only, on `port`. */
  tls?: boolean;
  /**
   * Keep the data in this directory, in an append-only file synced at every write, and leave
   * it there at stop: a server started again with the same port and directory has the data
   * (a real outage and recovery of the engine).
   */
  dataDir?: string;
}

const REDIS_SERVER_PATH = "/usr/bin/redis-server";
const STARTUP_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 10;
/** Another process may take the port between our probe and redis-server's bind. */
const BIND_ATTEMPTS_MAX = 5;
const OUTPUT_KEPT_BYTES_MAX = 16 * 1024;

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  if (options.port !== undefined) return startOnce(options.port, options);
  let lastError: unknown;
  for (let attempt = 1; attempt <= BIND_ATTEMPTS_MAX; attempt++) {
    try {
      return await startOnce(await freePort(), options);
    } catch (error: unknown) {
      if (!(error instanceof PortTakenError)) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

class PortTakenError extends Error {}

async function startOnce(port: number, options: RedisServerOptions): Promise<RedisServer> {
  const directory = options.dataDir ?? (await mkdtemp(join(tmpdir(), "jfs-redis-")));
  const persistence = options.dataDir === undefined ? ["no"] : ["yes", "--appendfsync", "always"];
  const tls = options.tls === true ? await makeCertificate(directory) : undefined;
  const listen = tls
    ? ["--port", "0", "--tls-port", String(port), "--tls-auth-clients", "no"]
    : ["--port", String(port)];
  if (tls) listen.push("--tls-cert-file", tls.cert, "--tls-key-file", tls.key);
  const args = [
    REDIS_SERVER_PATH,
    "--bind",
    "127.0.0.1",
    ...listen,
    "--dir",
    directory,
    "--save",
    "",
    "--appendonly",
    ...persistence,
    "--daemonize",
    "no",
    "--loglevel",
    "warning",
  ];
  if (options.password !== undefined) args.push("--requirepass", options.password);
  const child = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  // A crashed test run must not leave the server behind.
  const killOnExit = (): void => {
    child.kill();
  };
  process.once("exit", killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.off("exit", killOnExit);
      child.kill();
      await child.exited;
      if (options.dataDir === undefined) await rm(directory, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    const output = drain(child.stdout, child.stderr);
    await waitUntilAnswering(child, port, tls !== undefined, output);
    const auth = options.password === undefined ? "" : `:${encodeURIComponent(options.password)}@`;
    const scheme = tls ? "rediss" : "redis";
    return {
      port,
      url: (db = 0) => `${scheme}://${auth}127.0.0.1:${port}/${db}`,
      ...(tls ? { caCertFile: tls.cert } : {}),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error: unknown) {
    await stop();
    throw error;
  }
}

/** A self-signed EC certificate for 127.0.0.1 (its own CA). */
export async function makeCertificate(directory: string): Promise<{ cert: string; key: string }> {
  const cert = join(directory, "cert.pem");
  const key = join(directory, "key.pem");
  const openssl = Bun.spawn(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
  );
  if ((await openssl.exited) !== 0) {
    throw new Error(`openssl failed: ${await new Response(openssl.stderr).text()}`);
  }
  return { cert, key };
}

/** A port the kernel just gave out for 127.0.0.1; free unless someone else grabs it first. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("no port from listen(0)"));
      });
    });
  });
}

/** Reads both pipes to the end, so the child never blocks on a full pipe; keeps the tail. */
function drain(...streams: ReadableStream<Uint8Array>[]): Output {
  let text = "";
  const readers = streams.map(async (stream) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text = (text + decoder.decode(chunk, { stream: true })).slice(-OUTPUT_KEPT_BYTES_MAX);
    }
  });
  return { text: () => text, ended: Promise.allSettled(readers).then(() => undefined) };
}

interface Output {
  text(): string;
  /** Both pipes reached their end (the child exited and everything it wrote was read). */
  ended: Promise<void>;
}

/** Polls until the server answers PING (or says it needs a password, which also proves it up). */
async function waitUntilAnswering(
  child: Subprocess,
  port: number,
  tls: boolean,
  output: Output,
): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await answersPing(port, tls)) return;
    await Bun.sleep(POLL_INTERVAL_MS);
  }
  if (child.exitCode !== null) {
    await output.ended;
    const text = output.text();
    if (/Address already in use/i.test(text)) throw new PortTakenError(text);
    throw new Error(`redis-server exited during startup:\n${text}`);
  }
  throw new Error(`redis-server did not answer PING in time:\n${output.text()}`);
}

/** One raw RESP PING over TCP: "+PONG" or "-NOAUTH ..." both mean the server is serving. */
async function answersPing(port: number, tls: boolean): Promise<boolean> {
  const { promise, resolve } = Promise.withResolvers<boolean>();
  let reply = "";
  try {
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      ...(tls ? { tls: { rejectUnauthorized: false } } : {}),
      socket: {
        open(s) {
          s.write("PING\r\n");
        },
        data(s, data) {
          reply += data.toString();
          if (reply.includes("\r\n")) {
            resolve(reply.startsWith("+PONG") || reply.startsWith("-NOAUTH"));
            s.end();
          }
        },
        close() {
          resolve(false);
        },
        error() {
          resolve(false);
        },
        connectError() {
          resolve(false);
        },
      },
    });
    const timer = setTimeout(() => {
      resolve(false);
      socket.end();
    }, 1000);
    const answered = await promise;
    clearTimeout(timer);
    return answered;
  } catch {
    return false;
  }
}
