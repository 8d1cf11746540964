/**
 * The S3 gateway's HTTP server (Bun.serve): every request is authenticated (SigV4) before it
 * touches the volume, then routed; whatever fails becomes one S3 error reply. Bugs are logged
 * and answered InternalError, never a dropped connection.
 */
import { randomBytes } from "node:crypto";
import { UserError } from "../errors.ts";
import { GATEWAY_OBJECT_BYTES_MAX } from "../limits.ts";
import { log } from "../log.ts";
import { opDone } from "../metrics/jfs.ts";
import type { Vfs } from "../vfs/interface.ts";
import { S3Error, s3ErrorOf } from "./errors.ts";
import { type GatewayLayout, isBucketName, Namespace } from "./namespace.ts";
import { Objects } from "./objects.ts";
import { s3OpName } from "./opname.ts";
import { parsePath, queryOf, Router } from "./router.ts";
import { type Credentials, type SignedRequest, UNSIGNED_PAYLOAD, verifyRequest } from "./sigv4.ts";
import { renderError } from "./xml.ts";

export interface GatewayOptions extends GatewayLayout {
  vfs: Vfs;
  hostname: string;
  port: number;
  credentials: Credentials;
  /** --anonymous-read: unsigned GET and HEAD of objects and listings are served. */
  anonymousRead?: boolean;
}

export interface GatewayServer {
  hostname: string;
  port: number;
  stop(): Promise<void>;
}

/** The keys from the environment, as JuiceFS's gateway reads them; never from flags. */
export function credentialsFromEnv(env: Record<string, string | undefined>): Credentials {
  const accessKey = env.JFS_GATEWAY_ACCESS_KEY ?? env.MINIO_ROOT_USER;
  const secretKey = env.JFS_GATEWAY_SECRET_KEY ?? env.MINIO_ROOT_PASSWORD;
  if (accessKey === undefined || accessKey === "" || secretKey === undefined || secretKey === "") {
    throw new UserError(
      "jfs gateway needs its keys in the environment: JFS_GATEWAY_ACCESS_KEY and JFS_GATEWAY_SECRET_KEY (or MINIO_ROOT_USER and MINIO_ROOT_PASSWORD)",
    );
  }
  if (secretKey.length < 8)
    throw new UserError("The gateway's secret key needs at least 8 characters");
  return { accessKey, secretKey };
}

/** The path and query exactly as the client sent them (the signature covers those). */
function rawTarget(url: string): { rawPath: string; rawQuery: string } {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const target = start < 0 ? "/" : url.slice(start);
  const q = target.indexOf("?");
  return q < 0
    ? { rawPath: target, rawQuery: "" }
    : { rawPath: target.slice(0, q), rawQuery: target.slice(q + 1) };
}

async function* bodyOf(request: Request): AsyncIterable<Uint8Array> {
  if (request.body === null) return;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}

/** An unsigned read, let through by --anonymous-read (the bucket list stays private). */
function isAnonymousRead(request: SignedRequest, allowed: boolean): boolean {
  if (!allowed || request.headers.has("authorization")) return false;
  if (request.rawQuery.includes("X-Amz-Signature=")) return false;
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  return request.rawPath.replace(/^\/+/, "") !== "";
}

export function startGateway(options: GatewayOptions): GatewayServer {
  if (options.singleBucket !== undefined && !isBucketName(options.singleBucket)) {
    throw new UserError(`--bucket ${options.singleBucket}: not a valid S3 bucket name`);
  }
  const ns = new Namespace(options.vfs, options);
  const router = new Router(ns, new Objects(ns));
  const server = Bun.serve({
    hostname: options.hostname,
    port: options.port,
    maxRequestBodySize: GATEWAY_OBJECT_BYTES_MAX,
    idleTimeout: 255,
    async fetch(request) {
      const requestId = randomBytes(8).toString("hex").toUpperCase();
      const { rawPath, rawQuery } = rawTarget(request.url);
      const startMs = performance.now();
      let op = "Other";
      try {
        const signed = { method: request.method, rawPath, rawQuery, headers: request.headers };
        const verified = isAnonymousRead(signed, options.anonymousRead === true)
          ? { payloadHash: UNSIGNED_PAYLOAD }
          : verifyRequest(signed, options.credentials, Date.now());
        const { bucket, key } = parsePath(rawPath);
        op = s3OpName(request.method, bucket, key, queryOf(rawQuery), request.headers);
        const response = await router.handle({
          method: request.method,
          bucket,
          key,
          query: queryOf(rawQuery),
          headers: request.headers,
          body: bodyOf(request),
          verified,
        });
        response.headers.set("x-amz-request-id", requestId);
        opDone("gateway", op, startMs, response.status >= 400);
        return response;
      } catch (error) {
        const e =
          error instanceof URIError
            ? new S3Error("InvalidURI", 400, "Couldn't parse the specified URI.")
            : s3ErrorOf(error);
        opDone("gateway", op, startMs, true);
        if (e.status === 500) log.error(error);
        else log.debug(`gateway: ${request.method} ${rawPath}: ${e.code}`);
        const headers = { "content-type": "application/xml", "x-amz-request-id": requestId };
        if (request.method === "HEAD") return new Response(null, { status: e.status, headers });
        return new Response(renderError(e, rawPath, requestId), { status: e.status, headers });
      }
    },
  });
  return {
    hostname: server.hostname ?? options.hostname,
    port: server.port ?? options.port,
    stop: async () => {
      await server.stop();
    },
  };
}
