/**
 * The HTTP side of reading an object: its headers, a Range, and the preconditions of GET, HEAD
 * and CopyObject (RFC 9110 section 13, as S3 applies them).
 */
import type { S3Error } from "./errors.ts";
import { s3Errors } from "./errors.ts";
import type { ObjectInfo } from "./objects.ts";

export function objectHeaders(info: ObjectInfo): Headers {
  const headers = new Headers({
    etag: info.etag,
    "last-modified": info.lastModified.toUTCString(),
    "content-type": info.contentType,
    "accept-ranges": "bytes",
  });
  for (const [name, value] of info.userMeta) headers.set(`x-amz-meta-${name}`, value);
  return headers;
}

/** [start, end) of a Range header over `size` bytes; undefined for the whole object. */
export function rangeOf(header: string | null, size: number): [number, number] | undefined {
  if (header === null) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null || (m[1] === "" && m[2] === "")) return undefined; // not one range: ignored, as S3
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) throw s3Errors.invalidRange();
    return [Math.max(0, size - suffix), size];
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size : Math.min(size, Number(m[2]) + 1);
  if (start >= size || end <= start) throw s3Errors.invalidRange();
  return [start, end];
}

/** If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since (RFC 9110 order). */
export function checkConditions(headers: Headers, info: ObjectInfo): Response | undefined {
  const mtimeMs = Math.floor(info.lastModified.getTime() / 1000) * 1000;
  const matches = (list: string) =>
    list.split(",").some((t) => t.trim() === "*" || t.trim() === info.etag);
  const ifMatch = headers.get("if-match");
  if (ifMatch !== null && !matches(ifMatch)) throw s3Errors.preconditionFailed();
  const ifUnmodified = headers.get("if-unmodified-since");
  if (ifMatch === null && ifUnmodified !== null && mtimeMs > Date.parse(ifUnmodified)) {
    throw s3Errors.preconditionFailed();
  }
  const notModified = () =>
    new Response(null, {
      status: 304,
      headers: { etag: info.etag, "last-modified": info.lastModified.toUTCString() },
    });
  const ifNoneMatch = headers.get("if-none-match");
  if (ifNoneMatch !== null) return matches(ifNoneMatch) ? notModified() : undefined;
  const ifModified = headers.get("if-modified-since");
  if (ifModified !== null && mtimeMs <= Date.parse(ifModified)) return notModified();
  return undefined;
}

export function checkCopyConditions(headers: Headers, src: ObjectInfo): S3Error | undefined {
  const ifMatch = headers.get("x-amz-copy-source-if-match");
  if (ifMatch !== null && ifMatch.trim() !== src.etag && ifMatch.trim() !== "*") {
    return s3Errors.preconditionFailed();
  }
  const ifNoneMatch = headers.get("x-amz-copy-source-if-none-match");
  if (ifNoneMatch !== null && (ifNoneMatch.trim() === src.etag || ifNoneMatch.trim() === "*")) {
    return s3Errors.preconditionFailed();
  }
  return undefined;
}
