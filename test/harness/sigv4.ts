/**
 * A gate in front of s3rver that checks AWS Signature Version 4, which s3rver itself accepts
 * unchecked (its authentication middleware only verifies V2 signatures). Written from the AWS
 * documentation ("Create a signed AWS API request" / "Signature Version 4 for S3"), not from the
 * SDK's signer, so a signing mistake on either side shows up.
 *
 * Checks: known access key, signature over the canonical request, and, when the payload hash is
 * given (not UNSIGNED-PAYLOAD), that the body really has that SHA-256: an aws-chunked body or a
 * corrupted one fails like on AWS. Anonymous requests pass through.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { Agent, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { readBody, relay, send, sendError } from "./relay.ts";

export interface SigV4Gate {
  endpoint: string;
  stop(): Promise<void>;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

export async function startSigV4Gate(
  upstream: string,
  secretKeys: ReadonlyMap<string, string>,
): Promise<SigV4Gate> {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const problem = check(req, body, secretKeys);
      if (problem !== undefined) {
        sendError(res, problem.status, problem.code, problem.message);
        return;
      }
      send(res, await relay(target, agent, req, body));
    })().catch(() => req.socket.destroy());
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await closed;
    },
  };
}

interface Problem {
  status: number;
  code: string;
  message: string;
}

function check(
  req: IncomingMessage,
  body: Buffer,
  secretKeys: ReadonlyMap<string, string>,
): Problem | undefined {
  const authorization = req.headers.authorization;
  if (authorization === undefined) return undefined;
  const match = AUTHORIZATION.exec(authorization);
  if (match === null)
    return { status: 400, code: "AuthorizationHeaderMalformed", message: "bad header" };
  const [
    ,
    accessKey = "",
    date = "",
    region = "",
    service = "",
    signedHeaders = "",
    signature = "",
  ] = match;
  const secretKey = secretKeys.get(accessKey);
  if (secretKey === undefined) {
    return { status: 403, code: "InvalidAccessKeyId", message: "unknown access key" };
  }
  const payloadHash = header(req, "x-amz-content-sha256");
  const amzDate = header(req, "x-amz-date");
  if (payloadHash === "" || !amzDate.startsWith(date)) {
    return {
      status: 400,
      code: "InvalidRequest",
      message: "missing x-amz-content-sha256 or x-amz-date",
    };
  }
  if (payloadHash !== "UNSIGNED-PAYLOAD" && payloadHash !== sha256Hex(body)) {
    return {
      status: 400,
      code: "XAmzContentSHA256Mismatch",
      message: "body does not match its hash",
    };
  }
  const canonicalRequest = [
    req.method ?? "",
    canonicalPath(req.url ?? "/"),
    canonicalQuery(req.url ?? "/"),
    ...signedHeaders
      .split(";")
      .map((name) => `${name}:${header(req, name).trim().replace(/ +/g, " ")}`),
    "",
    signedHeaders,
    payloadHash,
  ].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    sha256Hex(Buffer.from(canonicalRequest)),
  ].join("\n");
  let key: Buffer = hmac(`AWS4${secretKey}`, date);
  for (const part of [region, service, "aws4_request"]) key = hmac(key, part);
  const expected = hmac(key, stringToSign);
  if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) {
    return { status: 403, code: "SignatureDoesNotMatch", message: "signature does not match" };
  }
  return undefined;
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(",") : (value ?? "");
}

/** S3 signs the path exactly as sent: already URI-encoded, and not normalized. */
function canonicalPath(url: string): string {
  const end = url.indexOf("?");
  return end === -1 ? url : url.slice(0, end);
}

/** Each name and value decoded, then strictly RFC 3986 encoded; sorted by name, then value. */
function canonicalQuery(url: string): string {
  const start = url.indexOf("?");
  if (start === -1) return "";
  const pairs = url
    .slice(start + 1)
    .split("&")
    .filter((pair) => pair !== "")
    .map((pair) => {
      const equals = pair.indexOf("=");
      const name = equals === -1 ? pair : pair.slice(0, equals);
      const value = equals === -1 ? "" : pair.slice(equals + 1);
      return [
        strictEncode(decodeURIComponent(name)),
        strictEncode(decodeURIComponent(value)),
      ] as const;
    });
  pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join("&");
}

function strictEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function sha256Hex(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}
