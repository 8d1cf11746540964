/**
 * A real S3 HTTP server for tests: npm s3rver, run under node (not bun) as a child process on
 * 127.0.0.1 with a port chosen by the kernel, storing into a fresh temp directory. Its one key
 * pair is S3RVER / S3RVER (node_modules/s3rver/lib/models/account.js).
 *
 * s3rver verifies only V2 signatures and waves every well-formed V4 one through, so clients
 * talk to a SigV4 gate in front of it (sigv4.ts): a wrong secret key fails as on AWS.
 *
 * s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only offers through
 * its legacy provider, hence --openssl-legacy-provider.
 *
 *   await using s3 = await startS3Server();
 *   const store = new S3ObjectStore({ bucketUrl: s3.bucketUrl("b"), ...s3 });
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { startSigV4Gate } from "./sigv4.ts";

export interface S3Server {
  /** "http://127.0.0.1:PORT" of the SigV4 gate. */
  endpoint: string;
  /** s3rver itself, without the gate (no signature checked: for benchmarks, bench/gateway.ts). */
  directEndpoint: string;
  /** "http://127.0.0.1:PORT/NAME", the form `--bucket` takes. */
  bucketUrl(name: string): string;
  accessKey: string;
  secretKey: string;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 20;
const OUTPUT_KEPT_BYTES_MAX = 16 * 1024;
const ACCESS_KEY = "S3RVER";
const SECRET_KEY = "S3RVER";

export async function startS3Server(): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), "jfs-s3rver-"));
  const script = Bun.resolveSync("s3rver/bin/s3rver.js", import.meta.dir);
  const child = Bun.spawn(
    [
      "node",
      "--openssl-legacy-provider",
      script,
      "--directory",
      directory,
      "--address",
      "127.0.0.1",
      "--port",
      "0",
      "--silent",
      "--no-vhost-buckets",
    ],
    { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
  );
  // A crashed test run must not leave the server behind.
  const killOnExit = (): void => {
    child.kill();
  };
  process.once("exit", killOnExit);

  let stopGate = async (): Promise<void> => {};
  const stop = async (): Promise<void> => {
    await stopGate();
    process.off("exit", killOnExit);
    child.kill();
    await child.exited;
    await rm(directory, { recursive: true, force: true });
  };

  try {
    const output = drain(child.stdout, child.stderr);
    const port = await waitUntilAnswering(child, output);
    const gate = await startSigV4Gate(
      `http://127.0.0.1:${port}`,
      new Map([[ACCESS_KEY, SECRET_KEY]]),
    );
    stopGate = gate.stop;
    const endpoint = gate.endpoint;
    return {
      endpoint,
      directEndpoint: `http://127.0.0.1:${port}`,
      bucketUrl: (name) => `${endpoint}/${name}`,
      accessKey: ACCESS_KEY,
      secretKey: SECRET_KEY,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error: unknown) {
    await stop();
    throw error;
  }
}

/** Reads both pipes to the end, so the child never blocks on a full pipe; keeps the tail. */
function drain(...streams: ReadableStream<Uint8Array>[]): () => string {
  let text = "";
  for (const stream of streams) {
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        text = (text + decoder.decode(chunk, { stream: true })).slice(-OUTPUT_KEPT_BYTES_MAX);
      }
    })();
  }
  return () => text;
}

/**
 * Polls until s3rver printed its port ("S3rver listening on 127.0.0.1:PORT", from its bin) and
 * an HTTP request gets an answer (an anonymous ListBuckets).
 */
async function waitUntilAnswering(child: Subprocess, output: () => string): Promise<number> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null) {
    const port = /S3rver listening on [\d.]+:(\d+)/.exec(output())?.[1];
    if (port !== undefined && (await answers(`http://127.0.0.1:${port}/`))) return Number(port);
    await Bun.sleep(POLL_INTERVAL_MS);
  }
  const why = child.exitCode === null ? "did not start in time" : "exited during startup";
  throw new Error(`s3rver ${why}:\n${output()}`);
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}
