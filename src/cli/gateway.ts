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
import { GATEWAY_PORT_DEFAULT } from "../limits.ts";
import { openRuntime } from "../volume/runtime.ts";
import { stringFlag } from "./options.ts";
import { type DataFlags, runtimeOptions, withDataFlags, withSessionFlags } from "./runtime.ts";
import { serveUntilSignal } from "./stopping.ts";

export interface GatewayFlags extends DataFlags {
  address?: unknown;
  bucket?: unknown;
  anonymousRead?: boolean;
}

/** "HOST:PORT" (IPv6 in brackets) → its parts; 127.0.0.1 unless told otherwise. */
export function addressOf(flag: unknown): { hostname: string; port: number } {
  const text = stringFlag(flag) ?? `127.0.0.1:${GATEWAY_PORT_DEFAULT}`;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw new UserError(
      `--address ${text}: expected HOST:PORT, such as 127.0.0.1:9000 (port 0 = any free one)`,
    );
  }
  const hostname = m[1] ?? (m[2] === "" ? "127.0.0.1" : m[2]!);
  return { hostname, port };
}

export async function runGateway(metaUrl: string | undefined, flags: GatewayFlags): Promise<void> {
  const { credentialsFromEnv, startGateway } = await import("../gateway/server.ts");
  const credentials = credentialsFromEnv(process.env);
  const { hostname, port } = addressOf(flags.address);
  const singleBucket = stringFlag(flags.bucket);
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const runtime = await openRuntime(metaUrl, runtimeOptions(flags), `s3://${host}:${port}`);
  let server: ReturnType<typeof startGateway>;
  try {
    server = startGateway({
      vfs: runtime.vfs,
      hostname,
      port,
      credentials,
      anonymousRead: flags.anonymousRead === true,
      ...(singleBucket !== undefined && { singleBucket }),
    });
  } catch (error) {
    await runtime.close().catch(() => undefined);
    if (error instanceof UserError) throw error;
    throw new UserError(`Cannot serve S3 on ${host}:${port}: ${describeError(error)}`);
  }
  const served = `s3://${host}:${server.port}`;
  if (server.port !== port) await runtime.updateMountPoint(served).catch(() => undefined);
  await serveUntilSignal(
    "stopping the S3 gateway",
    `s3: serving ${runtime.format.name} on http://${host}:${server.port}\n`,
    async () => {
      await server.stop();
      await runtime.close();
    },
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
  withSessionFlags(withDataFlags(command))
    .example("JFS_GATEWAY_ACCESS_KEY=admin JFS_GATEWAY_SECRET_KEY=secret123 jfs gateway")
    .action(async (metaUrl: unknown, flags: GatewayFlags) => {
      await runGateway(stringFlag(metaUrl), flags);
    });
}
