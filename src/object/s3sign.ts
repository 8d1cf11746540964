/**
 * AWS Signature Version 4 for S3 requests, header form with a signed payload, written from the
 * AWS documentation ("Create a signed AWS API request"). The payload's SHA-256 is always sent
 * and signed: a body corrupted on the way fails the server's check instead of being stored.
 */
import { createHash, createHmac } from "node:crypto";

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface SignInput {
  method: string;
  /** The encoded path as sent: "/bucket/key%20with%20space". */
  path: string;
  /** Unencoded query parameters. */
  query: ReadonlyArray<readonly [string, string]>;
  host: string;
  /** Extra headers to sign, lower-case names. */
  headers: Readonly<Record<string, string>>;
  body: Uint8Array | undefined;
  region: string;
  credentials: S3Credentials;
  now: Date;
}

export interface Signed {
  /** The headers to send (host excluded: fetch sets it). */
  headers: Record<string, string>;
  /** "?a=b&c=d", canonical order, or "". */
  search: string;
}

export const EMPTY_SHA256 = createHash("sha256").update("").digest("hex");

/** Derived signing keys by "secret/day/region": four HMACs saved on every request. */
const signingKeys = new Map<string, Buffer>();

export function signS3Request(input: SignInput): Signed {
  const payloadHash =
    input.body === undefined || input.body.byteLength === 0
      ? EMPTY_SHA256
      : createHash("sha256").update(input.body).digest("hex");
  const stamp = input.now.toISOString().replace(/[-:]|\.\d{3}/g, "");
  const day = stamp.slice(0, 8);
  const headers: Record<string, string> = {
    ...input.headers,
    host: input.host,
    "x-amz-content-sha256": payloadHash,
    "x-amz-date": stamp,
  };
  if (input.credentials.sessionToken !== undefined) {
    headers["x-amz-security-token"] = input.credentials.sessionToken;
  }
  const names = Object.keys(headers).sort();
  const search = input.query
    .map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`)
    .sort()
    .join("&");
  const canonical = [
    input.method,
    input.path,
    search,
    ...names.map((n) => `${n}:${String(headers[n]).trim()}`),
    "",
    names.join(";"),
    payloadHash,
  ].join("\n");
  const scope = `${day}/${input.region}/s3/aws4_request`;
  const toSign = [
    "AWS4-HMAC-SHA256",
    stamp,
    scope,
    createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  const key = signingKey(input.credentials.secretAccessKey, day, input.region);
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  const { host: _host, ...sent } = headers;
  sent.authorization = `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
  return { headers: sent, search: search === "" ? "" : `?${search}` };
}

function signingKey(secret: string, day: string, region: string): Buffer {
  const id = `${secret}/${day}/${region}`;
  let key = signingKeys.get(id);
  if (key === undefined) {
    const hmac = (k: string | Buffer, s: string): Buffer =>
      createHmac("sha256", k).update(s).digest();
    key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), "s3"), "aws4_request");
    // Keys change daily; a long-lived process must not collect them forever.
    if (signingKeys.size >= 16) signingKeys.clear();
    signingKeys.set(id, key);
  }
  return key;
}

/** RFC 3986 unreserved characters kept, everything else percent-encoded (UTF-8). */
export function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** An object key in a path: each segment encoded, "/" kept, as S3 signs it. */
export function encodeKeyPath(key: string): string {
  return key.split("/").map(encodeRfc3986).join("/");
}
