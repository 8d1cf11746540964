/**
 * aws-chunked bodies (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), which the aws CLI and SDKs send: the
 * example of the S3 documentation ("Signature Calculations for the Authorization Header:
 * Transferring Payload in Multiple Chunks") as test vectors, then a real upload to a running
 * gateway, a tampered chunk refused with nothing written, and a body cut short.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { SignatureV4 } from "@smithy/signature-v4";
import { S3Error } from "../../src/gateway/errors.ts";
import { payloadOf } from "../../src/gateway/payload.ts";
import {
  type ChunkSigning,
  chunkSignature,
  signingKey,
  verifyRequest,
} from "../../src/gateway/sigv4.ts";
import { ACCESS_KEY, SECRET_KEY, Sha256, startTestGateway, type TestGateway } from "./harness.ts";

const DOC = {
  accessKey: "AKIAIOSFODNN7EXAMPLE",
  secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  seed: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
  chunks: [
    [65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"],
    [1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"],
    [0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"],
  ] as const,
};

function chunkedBody(sizes: readonly (readonly [number, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [size, sig] of sizes) {
    parts.push(Buffer.from(`${size.toString(16)};chunk-signature=${sig}\r\n`));
    parts.push(Buffer.alloc(size, "a"), Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

async function* pieces(body: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let at = 0; at < body.length; at += size) yield body.subarray(at, at + size);
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const piece of body) out.push(piece);
  return Buffer.concat(out);
}

describe("aws-chunked bodies", () => {
  const headers = new Headers({
    host: "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    authorization: `AWS4-HMAC-SHA256 Credential=${DOC.accessKey}/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=${DOC.seed}`,
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "content-length": "66824",
  });
  const request = {
    method: "PUT",
    rawPath: "/examplebucket/chunkObject.txt",
    rawQuery: "",
    headers,
  };
  const now = Date.UTC(2013, 4, 24);

  test("the S3 documentation's example: seed signature and chunk chain", async () => {
    const verified = verifyRequest(request, DOC, now);
    expect(verified.chunkSigning?.seedSignature).toBe(DOC.seed);
    const body = chunkedBody(DOC.chunks);
    expect(body.length).toBe(66824);
    // Fed in odd-sized pieces: chunk boundaries never line up with reads.
    const data = await collect(payloadOf(pieces(body, 1000), verified, headers));
    expect(data.equals(Buffer.alloc(66560, "a"))).toBe(true);
  });

  test("a chunk changed, or a body cut short: refused", async () => {
    const verified = verifyRequest(request, DOC, now);
    const body = chunkedBody(DOC.chunks);
    body[body.indexOf("\r\n") + 2 + 100] = "b".charCodeAt(0);
    const tampered = await collect(payloadOf(pieces(body, 4096), verified, headers)).catch(
      (e) => e,
    );
    expect(tampered).toBeInstanceOf(S3Error);
    expect((tampered as S3Error).code).toBe("SignatureDoesNotMatch");
    const short = chunkedBody(DOC.chunks).subarray(0, 50_000);
    const cut = await collect(payloadOf(pieces(short, 4096), verified, headers)).catch((e) => e);
    expect((cut as S3Error).code).toBe("IncompleteBody");
  });

  test("the request signed at another time than now is skew", () => {
    const error = (() => {
      try {
        verifyRequest(request, DOC, now + 16 * 60 * 1000);
      } catch (e) {
        return e as S3Error;
      }
    })();
    expect(error?.code).toBe("RequestTimeTooSkewed");
  });
});

describe("aws-chunked PUT to a running gateway", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
    await gw.client().send(new CreateBucketCommand({ Bucket: "upload" }));
  });
  afterAll(async () => {
    await gw?.close();
  });

  /** A signed chunked PUT: the seed signed by the SDK's signer, the chunks chained from it. */
  async function chunkedPut(key: string, data: Buffer, chunkBytes: number, tamper = false) {
    const url = new URL(`${gw.endpoint}/upload/${key}`);
    const signer = new SignatureV4({
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      region: "us-east-1",
      service: "s3",
      sha256: Sha256,
      uriEscapePath: false,
    });
    const chunks: Buffer[] = [];
    for (let at = 0; at < data.length; at += chunkBytes)
      chunks.push(data.subarray(at, at + chunkBytes));
    chunks.push(Buffer.alloc(0));
    const framedLength = chunks.reduce(
      (n, c) => n + c.length.toString(16).length + ";chunk-signature=".length + 64 + 4 + c.length,
      0,
    );
    const signed = await signer.sign({
      method: "PUT",
      protocol: "http:",
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: {
        host: url.host,
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": String(data.length),
        "content-length": String(framedLength),
      },
    });
    const auth = String(signed.headers.authorization);
    const seed = /Signature=([0-9a-f]{64})/.exec(auth)![1]!;
    const amzDate = String(signed.headers["x-amz-date"]);
    const signing: ChunkSigning = {
      seedSignature: seed,
      signingKey: signingKey(SECRET_KEY, amzDate.slice(0, 8), "us-east-1", "s3"),
      amzDate,
      scope: `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`,
    };
    let previous = seed;
    const framed: Buffer[] = [];
    for (const c of chunks) {
      const sig = chunkSignature(signing, previous, createHash("sha256").update(c).digest("hex"));
      previous = sig;
      const body = tamper && c.length > 0 ? Buffer.from(c).fill(0x7a, 0, 1) : c;
      framed.push(
        Buffer.from(`${c.length.toString(16)};chunk-signature=${sig}\r\n`),
        body,
        Buffer.from("\r\n"),
      );
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(signed.headers)) headers.set(k, String(v));
    return fetch(url, { method: "PUT", headers, body: Buffer.concat(framed) });
  }

  test("written whole, ETag the MD5 of the decoded data", async () => {
    const data = Buffer.alloc(200_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const res = await chunkedPut("dir/chunked.bin", data, 65536);
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe(`"${createHash("md5").update(data).digest("hex")}"`);
    const got = await gw
      .client()
      .send(new GetObjectCommand({ Bucket: "upload", Key: "dir/chunked.bin" }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
  });

  test("a tampered chunk: SignatureDoesNotMatch, nothing written", async () => {
    const res = await chunkedPut("bad.bin", Buffer.alloc(100_000, 1), 65536, true);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("<Code>SignatureDoesNotMatch</Code>");
    const head = await gw
      .client()
      .send(new HeadObjectCommand({ Bucket: "upload", Key: "bad.bin" }))
      .catch((e: { $metadata: { httpStatusCode: number } }) => e.$metadata.httpStatusCode);
    expect(head).toBe(404);
  });
});
