/**
 * A gateway over a fresh volume (SQLite meta, local file store, in this process) and an AWS SDK
 * client signed with its keys. The client is the real SDK: its signing, aws-chunked bodies and
 * XML parsing are what the gateway must accept.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { type GatewayServer, startGateway } from "../../src/gateway/server.ts";
import { openRuntime, type Runtime } from "../../src/volume/runtime.ts";
import { jfs } from "../cli/run.ts";

export const ACCESS_KEY = "jfs-test-access";
export const SECRET_KEY = "jfs-test-secret-key";

export interface TestGateway {
  dir: string;
  metaUrl: string;
  runtime: Runtime;
  server: GatewayServer;
  endpoint: string;
  client(keys?: { accessKeyId: string; secretAccessKey: string }): S3Client;
  close(): Promise<void>;
}

export async function startTestGateway(singleBucket?: string): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), "jfs-gateway-"));
  const metaUrl = `sqlite3://${dir}/meta.db`;
  const f = await jfs([
    "format",
    metaUrl,
    "gateway",
    "--bucket",
    join(dir, "data"),
    "--trash-days",
    "0",
  ]);
  if (f.code !== 0) throw new Error(`format failed: ${f.stderr}`);
  const runtime = await openRuntime(metaUrl, { cacheDir: join(dir, "cache") }, "gateway-test");
  const server = startGateway({
    vfs: runtime.vfs,
    hostname: "127.0.0.1",
    port: 0,
    credentials: { accessKey: ACCESS_KEY, secretKey: SECRET_KEY },
    ...(singleBucket !== undefined && { singleBucket }),
  });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const clients: S3Client[] = [];
  return {
    dir,
    metaUrl,
    runtime,
    server,
    endpoint,
    client(keys = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }) {
      const c = new S3Client({
        endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: keys,
        maxAttempts: 1,
      });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      await server.stop();
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
