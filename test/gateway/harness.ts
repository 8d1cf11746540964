/**
 * A gateway over a fresh volume (SQLite meta, local file store, in this process) and an AWS SDK
 * client signed with its keys. The client is the real SDK: its signing, aws-chunked bodies and
 * XML parsing are what the gateway must accept.
 */
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { SignatureV4 } from "@smithy/signature-v4";
import { type GatewayServer, startGateway } from "../../src/gateway/server.ts";
import { openRuntime, type Runtime } from "../../src/volume/runtime.ts";
import { jfs } from "../cli/harness.ts";

export const ACCESS_KEY = "jfs-test-access";
export const SECRET_KEY = "jfs-test-secret-key";

/** The hash the SDK's signer is given (it asks for a class with update/digest). */
type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: Data) =>
  typeof d === "string"
    ? d
    : d instanceof ArrayBuffer
      ? new Uint8Array(d)
      : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
export class Sha256 {
  #h: Hash | Hmac;
  constructor(secret?: Data) {
    this.#h = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
  }
  update(data: Data) {
    this.#h.update(bytes(data));
  }
  async digest() {
    return new Uint8Array(this.#h.digest());
  }
}

/** A request signed by the SDK's own SigV4 signer, for bodies the SDK would not send. */
export async function signedFetch(
  endpoint: string,
  method: string,
  pathAndQuery: string,
  body: string,
) {
  const url = new URL(endpoint + pathAndQuery);
  const signer = new SignatureV4({
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    region: "us-east-1",
    service: "s3",
    sha256: Sha256,
    uriEscapePath: false,
  });
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signed = await signer.sign({
    method,
    protocol: "http:",
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query,
    headers: {
      host: url.host,
      "x-amz-content-sha256": createHash("sha256").update(body).digest("hex"),
    },
    body,
  });
  const headers = new Headers();
  for (const [k, v] of Object.entries(signed.headers)) headers.set(k, String(v));
  return fetch(url, { method, headers, body });
}

export interface TestGateway {
  dir: string;
  metaUrl: string;
  runtime: Runtime;
  server: GatewayServer;
  endpoint: string;
  client(keys?: { accessKeyId: string; secretAccessKey: string }): S3Client;
  close(): Promise<void>;
}

export async function startTestGateway(
  singleBucket?: string,
  anonymousRead = false,
): Promise<TestGateway> {
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
    anonymousRead,
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
