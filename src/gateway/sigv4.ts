/**
 * AWS Signature Version 4, checked the way S3 checks it ("Authenticating Requests (AWS Signature
 * Version 4)", S3 API reference): in the Authorization header or as a presigned query string.
 * The region is whatever the client signed with; the service must be "s3". A request more than
 * GATEWAY_CLOCK_SKEW_MS away from our clock is refused, as S3 does.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { GATEWAY_CLOCK_SKEW_MS, GATEWAY_PRESIGN_EXPIRES_SEC_MAX } from "../limits.ts";
import { s3Errors } from "./errors.ts";

export interface Credentials {
  accessKey: string;
  secretKey: string;
}

/** What a verified request still owes: its payload, hashed as it said, or signed chunk by chunk. */
export interface Verified {
  /** The x-amz-content-sha256 value: a hex digest, UNSIGNED-PAYLOAD or STREAMING-... */
  payloadHash: string;
  /** For signed aws-chunked bodies: the seed signature, the signing key and the scope. */
  chunkSigning?: ChunkSigning;
}

export interface ChunkSigning {
  seedSignature: string;
  signingKey: Buffer;
  amzDate: string;
  scope: string;
}

export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
export const STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
export const STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
export const EMPTY_SHA256 = createHash("sha256").update("").digest("hex");

const AUTH_HEADER =
  /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

const hmac = (key: Buffer | string, text: string): Buffer =>
  createHmac("sha256", key).update(text).digest();
export const sha256Hex = (data: string | Uint8Array): string =>
  createHash("sha256").update(data).digest("hex");

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request");
}

/** S3's URI encoding: every byte but A-Z a-z 0-9 - . _ ~ as %XX (and "/" kept when asked). */
export function uriEncode(text: string, keepSlash: boolean): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === "/")) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Percent-decoding that keeps "+" (S3 clients send a space as %20). Bad escapes throw. */
export function uriDecode(text: string): string {
  return decodeURIComponent(text);
}

/** The raw query as decoded (name, value) pairs, in order. */
export function queryPairs(rawQuery: string): [string, string][] {
  if (rawQuery === "") return [];
  return rawQuery.split("&").map((part) => {
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    return [uriDecode(name), uriDecode(value)];
  });
}

function canonicalQuery(pairs: [string, string][]): string {
  return pairs
    .map(([n, v]) => [uriEncode(n, false), uriEncode(v, false)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([n, v]) => `${n}=${v}`)
    .join("&");
}

function canonicalHeaders(headers: Headers, signed: string[]): string {
  return signed
    .map((name) => `${name}:${(headers.get(name) ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
}

function parseAmzDate(text: string): number | undefined {
  const m = AMZ_DATE.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  return Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
}

function sameSignature(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

export interface SignedRequest {
  method: string;
  /** The path as it came, still percent-encoded. */
  rawPath: string;
  rawQuery: string;
  headers: Headers;
}

/**
 * Checks the signature of a request; throws the S3 error a client would get from S3. The
 * payload itself is checked later, as it streams (payload.ts).
 */
export function verifyRequest(
  request: SignedRequest,
  credentials: Credentials,
  nowMs: number,
): Verified {
  const authorization = request.headers.get("authorization");
  const pairs = queryPairs(request.rawQuery);
  const presigned = pairs.some(([n]) => n === "X-Amz-Signature");
  if (authorization === null && !presigned) throw s3Errors.missingAuth();
  if (authorization !== null && presigned) {
    throw s3Errors.invalidArgument("Only one auth mechanism allowed");
  }
  const param = (name: string): string | undefined => pairs.find(([n]) => n === name)?.[1];
  let credential: string;
  let signedHeaders: string;
  let signature: string;
  let amzDate: string;
  let payloadHash: string;
  let queryForSigning = pairs;
  if (authorization !== null) {
    if (!authorization.startsWith("AWS4-HMAC-SHA256")) {
      throw s3Errors.invalidArgument(
        "Only AWS Signature Version 4 (AWS4-HMAC-SHA256) is supported",
      );
    }
    const m = AUTH_HEADER.exec(authorization);
    if (m === null) throw s3Errors.malformedAuth("The authorization header is malformed");
    [, credential, signedHeaders, signature] = m as unknown as [string, string, string, string];
    amzDate = request.headers.get("x-amz-date") ?? "";
    const hash = request.headers.get("x-amz-content-sha256");
    if (hash === null) {
      throw s3Errors.invalidRequest(
        "Missing required header for this request: x-amz-content-sha256",
      );
    }
    payloadHash = hash;
  } else {
    if (param("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256") {
      throw s3Errors.invalidArgument("X-Amz-Algorithm must be AWS4-HMAC-SHA256");
    }
    credential = param("X-Amz-Credential") ?? "";
    signedHeaders = param("X-Amz-SignedHeaders") ?? "";
    signature = param("X-Amz-Signature") ?? "";
    amzDate = param("X-Amz-Date") ?? "";
    payloadHash = UNSIGNED_PAYLOAD;
    queryForSigning = pairs.filter(([n]) => n !== "X-Amz-Signature");
    const expires = Number(param("X-Amz-Expires"));
    if (!Number.isInteger(expires) || expires < 1 || expires > GATEWAY_PRESIGN_EXPIRES_SEC_MAX) {
      throw s3Errors.accessDenied("X-Amz-Expires must be between 1 and 604800 seconds");
    }
    const signedAt = parseAmzDate(amzDate);
    if (signedAt !== undefined && nowMs > signedAt + expires * 1000) {
      throw s3Errors.accessDenied("Request has expired");
    }
  }
  const parts = credential.split("/");
  if (parts.length !== 5 || parts[4] !== "aws4_request" || parts[3] !== "s3") {
    throw s3Errors.malformedAuth(
      "The credential scope is malformed: KEY/DATE/REGION/s3/aws4_request",
    );
  }
  const [accessKey, date, region] = parts as [string, string, string, string, string];
  if (!sameSignature(accessKey, credentials.accessKey)) throw s3Errors.invalidAccessKeyId();
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined || !amzDate.startsWith(date)) {
    throw s3Errors.accessDenied("X-Amz-Date is missing, malformed or not the credential's date");
  }
  // Presigned URLs are signed in advance: only a date in the future is skew.
  const skewMs = presigned ? signedAt - nowMs : Math.abs(signedAt - nowMs);
  if (skewMs > GATEWAY_CLOCK_SKEW_MS) throw s3Errors.tooSkewed();
  const signed = signedHeaders.split(";");
  if (!signed.includes("host")) throw s3Errors.malformedAuth("SignedHeaders must include host");
  const canonical = [
    request.method,
    uriEncode(uriDecode(request.rawPath), true),
    canonicalQuery(queryForSigning),
    canonicalHeaders(request.headers, signed),
    signedHeaders,
    payloadHash,
  ].join("\n");
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonical)].join("\n");
  const key = signingKey(credentials.secretKey, date, region, "s3");
  const expected = createHmac("sha256", key).update(toSign).digest("hex");
  if (!sameSignature(expected, signature)) throw s3Errors.signatureMismatch();
  const verified: Verified = { payloadHash };
  if (payloadHash === STREAMING_SIGNED) {
    verified.chunkSigning = { seedSignature: signature, signingKey: key, amzDate, scope };
  }
  return verified;
}

/** The signature an aws-chunked chunk must carry, chained from the previous one. */
export function chunkSignature(signing: ChunkSigning, previous: string, chunkSha256: string) {
  const toSign = [
    "AWS4-HMAC-SHA256-PAYLOAD",
    signing.amzDate,
    signing.scope,
    previous,
    EMPTY_SHA256,
    chunkSha256,
  ].join("\n");
  return createHmac("sha256", signing.signingKey).update(toSign).digest("hex");
}
