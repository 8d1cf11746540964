/**
 * The fetch candidate of bench/s3client.ts: path-style PUT and GET signed with AWS Signature
 * Version 4 (header form, signed payload), written from the AWS documentation. Only what the
 * bench needs; a store built on it would also need HEAD, DELETE, ListObjectsV2 and errors.
 */
import { createHash, createHmac } from "node:crypto";

export interface SigV4Target {
  endpoint: string;
  bucket: string;
  region: string;
  accessKey: string;
  secretKey: string;
}

const EMPTY_SHA256 = createHash("sha256").update("").digest("hex");

export class FetchS3 {
  readonly #target: SigV4Target;
  readonly #host: string;
  #signingDay = "";
  #signingKey: Buffer = Buffer.alloc(0);

  constructor(target: SigV4Target) {
    this.#target = target;
    this.#host = new URL(target.endpoint).host;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const response = await this.#send("PUT", key, body, {});
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`PUT ${key}: HTTP ${response.status}`);
  }

  async get(key: string): Promise<Uint8Array> {
    const response = await this.#send("GET", key, undefined, {});
    const bytes = await response.bytes();
    if (!response.ok) throw new Error(`GET ${key}: HTTP ${response.status}`);
    return bytes;
  }

  #send(
    method: string,
    key: string,
    body: Uint8Array | undefined,
    extra: Record<string, string>,
  ): Promise<Response> {
    const path = `/${encodePath(this.#target.bucket)}/${encodePath(key)}`;
    const payloadHash =
      body === undefined ? EMPTY_SHA256 : createHash("sha256").update(body).digest("hex");
    const stamp = new Date().toISOString().replace(/[-:]|\.\d{3}/g, "");
    const day = stamp.slice(0, 8);
    const headers: Record<string, string> = {
      host: this.#host,
      "x-amz-content-sha256": payloadHash,
      "x-amz-date": stamp,
      ...extra,
    };
    const names = Object.keys(headers).sort();
    const canonical = [
      method,
      path,
      "",
      ...names.map((n) => `${n}:${headers[n]}`),
      "",
      names.join(";"),
      payloadHash,
    ].join("\n");
    const scope = `${day}/${this.#target.region}/s3/aws4_request`;
    const toSign = [
      "AWS4-HMAC-SHA256",
      stamp,
      scope,
      createHash("sha256").update(canonical).digest("hex"),
    ].join("\n");
    const signature = createHmac("sha256", this.#key(day)).update(toSign).digest("hex");
    const authorization = `AWS4-HMAC-SHA256 Credential=${this.#target.accessKey}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
    const { host: _host, ...sent } = headers;
    return fetch(`${this.#target.endpoint}${path}`, {
      method,
      headers: { ...sent, authorization },
      ...(body === undefined ? {} : { body }),
    });
  }

  /** The signing key changes once a day; deriving it is four HMACs, so it is kept. */
  #key(day: string): Buffer {
    if (day !== this.#signingDay) {
      const hmac = (k: string | Buffer, s: string): Buffer =>
        createHmac("sha256", k).update(s).digest();
      const dated = hmac(`AWS4${this.#target.secretKey}`, day);
      this.#signingKey = hmac(hmac(hmac(dated, this.#target.region), "s3"), "aws4_request");
      this.#signingDay = day;
    }
    return this.#signingKey;
  }
}

/** RFC 3986 per segment, "/" kept, as SigV4 for S3 wants. */
function encodePath(path: string): string {
  return path
    .split("/")
    .map((s) =>
      encodeURIComponent(s).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join("/");
}
