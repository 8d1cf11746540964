/**
 * A request body as the bytes of the object: plain (its SHA-256 checked at the end when the
 * client signed one), or aws-chunked ("STREAMING-..." payloads: size;chunk-signature=SIG CRLF
 * data CRLF ..., ending with a 0-size chunk and, for the -TRAILER forms, trailing headers).
 * Signed chunks are each checked against the chain of signatures that starts at the request's.
 * A body that fails a check throws before its last bytes are given out, so the caller, which
 * writes to a temporary file, never publishes it.
 */
import { createHash } from "node:crypto";
import { GATEWAY_CHUNK_BYTES_MAX, GATEWAY_CHUNK_HEADER_BYTES_MAX } from "../limits.ts";
import { s3Errors } from "./errors.ts";
import {
  chunkSignature,
  STREAMING_SIGNED,
  STREAMING_UNSIGNED_TRAILER,
  UNSIGNED_PAYLOAD,
  type Verified,
} from "./sigv4.ts";

type Body = AsyncIterable<Uint8Array>;

async function* plain(body: Body, expectedSha256: string | undefined): Body {
  const hash = createHash("sha256");
  let pending: Uint8Array | undefined;
  for await (const piece of body) {
    // Held back by one piece: the last one goes out only once the digest is known good.
    if (pending !== undefined) yield pending;
    if (expectedSha256 !== undefined) hash.update(piece);
    pending = piece;
  }
  if (expectedSha256 !== undefined && hash.digest("hex") !== expectedSha256) {
    throw s3Errors.sha256Mismatch();
  }
  if (pending !== undefined) yield pending;
}

/** Bytes from a stream, on demand: lines and exact lengths. */
class Reader {
  #buffer: Buffer = Buffer.alloc(0);
  #source: AsyncIterator<Uint8Array>;
  #done = false;
  constructor(body: Body) {
    this.#source = body[Symbol.asyncIterator]();
  }
  async #more(): Promise<boolean> {
    if (this.#done) return false;
    const next = await this.#source.next();
    if (next.done === true) {
      this.#done = true;
      return false;
    }
    this.#buffer = Buffer.concat([this.#buffer, next.value]);
    return true;
  }
  /** A CRLF-terminated line, without the CRLF. */
  async line(): Promise<string> {
    for (;;) {
      const at = this.#buffer.indexOf("\r\n");
      if (at >= 0) {
        const text = this.#buffer.subarray(0, at).toString("latin1");
        this.#buffer = this.#buffer.subarray(at + 2);
        return text;
      }
      if (this.#buffer.length > GATEWAY_CHUNK_HEADER_BYTES_MAX) throw badChunk("header too long");
      if (!(await this.#more())) throw s3Errors.incompleteBody();
    }
  }
  async exactly(length: number): Promise<Buffer> {
    while (this.#buffer.length < length) {
      if (!(await this.#more())) throw s3Errors.incompleteBody();
    }
    const out = Buffer.from(this.#buffer.subarray(0, length));
    this.#buffer = this.#buffer.subarray(length);
    return out;
  }
  async atEnd(): Promise<boolean> {
    while (this.#buffer.length === 0) if (!(await this.#more())) return true;
    return false;
  }
}

const badChunk = (why: string) => s3Errors.invalidArgument(`Malformed aws-chunked body: ${why}`);
const CHUNK_HEADER = /^([0-9a-fA-F]{1,8})(?:;chunk-signature=([0-9a-f]{64}))?$/;

async function* chunked(body: Body, verified: Verified, decodedLength: number | undefined): Body {
  const reader = new Reader(body);
  const signing = verified.chunkSigning;
  let previous = signing?.seedSignature ?? "";
  let total = 0;
  for (;;) {
    const m = CHUNK_HEADER.exec(await reader.line());
    if (m === null) throw badChunk("bad chunk header");
    const size = Number.parseInt(m[1]!, 16);
    if (size > GATEWAY_CHUNK_BYTES_MAX) throw badChunk("chunk too large");
    if ((m[2] === undefined) !== (signing === undefined)) throw badChunk("chunk signature");
    const data = await reader.exactly(size);
    if (signing !== undefined) {
      const digest = createHash("sha256").update(data).digest("hex");
      const expected = chunkSignature(signing, previous, digest);
      if (expected !== m[2]) throw s3Errors.signatureMismatch();
      previous = expected;
    }
    total += size;
    if (size === 0) break;
    if ((await reader.exactly(2)).toString("latin1") !== "\r\n") throw badChunk("missing CRLF");
    if (decodedLength !== undefined && total > decodedLength) throw s3Errors.incompleteBody();
    // The last data chunk is followed by the 0 chunk, so a failed check comes before the end.
    yield data;
  }
  // Trailing headers (x-amz-checksum-*), then an empty line; the signed form ends at the 0 chunk.
  if (verified.payloadHash === STREAMING_UNSIGNED_TRAILER) {
    while ((await reader.line()) !== "");
  } else if (!(await reader.atEnd())) {
    const rest = await reader.exactly(2);
    if (rest.toString("latin1") !== "\r\n") throw badChunk("data after the last chunk");
  }
  if (decodedLength !== undefined && total !== decodedLength) throw s3Errors.incompleteBody();
}

/** The object's bytes from a verified request's body. */
export function payloadOf(body: Body, verified: Verified, headers: Headers): Body {
  const hash = verified.payloadHash;
  if (hash === UNSIGNED_PAYLOAD) return plain(body, undefined);
  if (/^[0-9a-f]{64}$/.test(hash)) return plain(body, hash);
  if (hash === STREAMING_SIGNED || hash === STREAMING_UNSIGNED_TRAILER) {
    const decoded = headers.get("x-amz-decoded-content-length");
    const length = decoded === null ? undefined : Number(decoded);
    if (length !== undefined && !Number.isSafeInteger(length)) {
      throw s3Errors.invalidArgument("x-amz-decoded-content-length is not a number");
    }
    return chunked(body, verified, length);
  }
  throw s3Errors.notImplemented(`x-amz-content-sha256: ${hash}`);
}

/** A whole small body (DeleteObjects XML), checked like any other, at most `limit` bytes. */
export async function readSmallBody(
  body: Body,
  verified: Verified,
  headers: Headers,
  limit: number,
) {
  const pieces: Uint8Array[] = [];
  let size = 0;
  for await (const piece of payloadOf(body, verified, headers)) {
    size += piece.length;
    if (size > limit) throw s3Errors.invalidRequest("The request body is too large");
    pieces.push(piece);
  }
  return Buffer.concat(pieces);
}
