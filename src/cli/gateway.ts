/**
 * jfs gateway [META-URL] — serves a volume over the S3 API, in the foreground. Top-level
 * directories are buckets, or --bucket NAME makes the volume's root that one bucket. The keys
 * come from the environment only (JFS_GATEWAY_ACCESS_KEY / JFS_GATEWAY_SECRET_KEY, or
 * MINIO_ROOT_USER / MINIO_ROOT_PASSWORD): a secret on the command line is in `ps` for all.
 *
 * Ready means: the volume is open and the port bound; then one line "s3: serving NAME on
 * http://HOST:PORT" goes to stdout. SIGINT or SIGTERM stops accepting, then flushes and closes.
 */
import type { CAC } from "cac";
import { describeError, UserError } from "../errors.ts";
import type { GatewayServer } from "../gateway/server.ts";
import type { Credentials } from "../gateway/sigv4.ts";
import { GATEWAY_PORT_DEFAULT } from "../limits.ts";
import { openRuntime, type Runtime } from "../volume/runtime.ts";
import { type Metrics, type MetricsFlags, withMetrics, withMetricsFlags } from "./metrics.ts";
import { stringFlag } from "./options.ts";
import { type DataFlags, runtimeOptions, withDataFlags, withSessionFlags } from "./runtime.ts";
import { serveUntilSignal } from "./stopping.ts";

export interface GatewayFlags extends DataFlags, MetricsFlags {
  address?: unknown;
  bucket?: unknown;
  anonymousRead?: boolean;
}

/** "HOST:PORT" (IPv6 in brackets) → its parts; 127.0.0.1 unless told otherwise. */
export function addressOf(flag: unknown, name = "address"): { hostname: string; port: number } {
  const text = stringFlag(flag) ?? `127.0.0.1:${GATEWAY_PORT_DEFAULT}`;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw new UserError(
      `--${name} ${text}: expected HOST:PORT, such as 127.0.0.1:9000 (port 0 = any free one)`,
    );
  }
  const hostname = m[1] ?? (m[2] === "" ? "127.0.0.1" : m[2]!);
  return { hostname, port };
}

/** What the S3 server needs, checked before the volume is opened. */
export interface S3Config {
  hostname: string;
  port: number;
  credentials: Credentials;
  singleBucket?: string;
  anonymousRead: boolean;
}

/** The gateway's flags and keys (from `env`) checked; throws UserError when they are wrong. */
export async function s3ConfigOf(
  address: unknown,
  flags: { bucket?: unknown; anonymousRead?: boolean },
  env: Record<string, string | undefined> = process.env,
  /** The flag's name in errors: "address" (jfs gateway) or "s3" (jfs serve). */
  flagName = "address",
): Promise<S3Config> {
  const { credentialsFromEnv } = await import("../gateway/server.ts");
  const { hostname, port } = addressOf(address, flagName);
  const credentials = credentialsFromEnv(env);
  const singleBucket = stringFlag(flags.bucket);
  return {
    hostname,
    port,
    credentials,
    anonymousRead: flags.anonymousRead === true,
    ...(singleBucket !== undefined && { singleBucket }),
  };
}

/** "HOST" with IPv6 hosts in brackets, as in a URL. */
export function urlHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/**
 * Starts the S3 server on the runtime's VFS (`jfs gateway`, and `jfs serve --s3`, which
 * shares the runtime with NFS). The caller closes the runtime if this throws.
 */
export async function listenS3(runtime: Runtime, config: S3Config): Promise<GatewayServer> {
  const { startGateway } = await import("../gateway/server.ts");
  try {
    return startGateway({ vfs: runtime.vfs, ...config });
  } catch (error) {
    if (error instanceof UserError) throw error;
    const where = `${urlHost(config.hostname)}:${config.port}`;
    throw new UserError(`Cannot serve S3 on ${where}: ${describeError(error)}`);
  }
}

/** The ready line, which tests and scripts wait for. */
export function s3ReadyText(name: string, hostname: string, server: GatewayServer): string {
  return `s3: serving ${name} on http://${urlHost(hostname)}:${server.port}\n`;
}

export async function runGateway(
  metaUrl: string | undefined,
  flags: GatewayFlags,
  metrics?: Metrics,
): Promise<void> {
  const config = await s3ConfigOf(flags.address, flags);
  const host = urlHost(config.hostname);
  const runtime = await openRuntime(metaUrl, runtimeOptions(flags), `s3://${host}:${config.port}`);
  metrics?.attach(runtime);
  let server: GatewayServer;
  try {
    server = await listenS3(runtime, config);
  } catch (error) {
    await runtime.close().catch(() => undefined);
    throw error;
  }
  const served = `s3://${host}:${server.port}`;
  if (server.port !== config.port) await runtime.updateMountPoint(served).catch(() => undefined);
  await serveUntilSignal(
    [{ name: "the S3 gateway", stop: () => server.stop() }],
    s3ReadyText(runtime.format.name, config.hostname, server) + (metrics?.readyLine ?? ""),
    () => runtime.close(),
  );
}

export function registerGateway(cli: CAC): void {
  const command = cli
    .command(
      "gateway [META-URL]",
      "Serve a volume over the S3 API (keys from JFS_GATEWAY_ACCESS_KEY/JFS_GATEWAY_SECRET_KEY)",
    )
    .option(
      "--address <host:port>",
      `Address to listen on (default: 127.0.0.1:${GATEWAY_PORT_DEFAULT})`,
    )
    .option(
      "--bucket <name>",
      "Serve the volume's root as this one bucket (default: top-level directories are buckets)",
    )
    .option(
      "--anonymous-read",
      "Serve unsigned GET and HEAD of objects and listings (writes and the bucket list stay signed)",
    );
  withMetricsFlags(withSessionFlags(withDataFlags(command)))
    .example("JFS_GATEWAY_ACCESS_KEY=admin JFS_GATEWAY_SECRET_KEY=secret123 jfs gateway")
    .action(async (metaUrl: unknown, flags: GatewayFlags) => {
      await withMetrics(flags, (metrics) => runGateway(stringFlag(metaUrl), flags, metrics));
    });
}
