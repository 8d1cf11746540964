/**
 * The `--bucket` URL of an S3-compatible store: "http(s)://host:port/bucket[/prefix]". Credentials
 * never travel in it (they would leak into descriptions and logs); they come from flags or env.
 */
import { UserError } from "../errors.ts";

export interface S3BucketUrl {
  /** "http://host:port", no path. */
  endpoint: string;
  bucket: string;
  /** "" or segments ending in "/", e.g. "sub/dir/"; prepended to every key. */
  keyPrefix: string;
}

const USAGE = "--bucket for s3 must look like http://host:port/bucket";
/** Lenient on purpose: AWS rules are stricter, but MinIO, Ceph and others differ. */
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

export function parseS3BucketUrl(text: string): S3BucketUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw malformed(text, "not a URL");
  }
  if (url.username !== "" || url.password !== "") {
    throw new UserError("--bucket must not contain credentials: use --access-key and --secret-key");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw malformed(text, "the scheme must be http or https");
  }
  if (url.search !== "" || url.hash !== "") throw malformed(text, "no query or fragment allowed");
  // URL resolves "/bucket/../other" to "/other"; a typo must not silently pick another bucket.
  const rawPath = text.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "");
  if (rawPath.split("/").some((segment) => /^(\.|%2e){1,2}$/i.test(segment))) {
    throw malformed(text, '"." and ".." are not allowed in the path');
  }
  const [bucket = "", ...rest] = url.pathname.slice(1).split("/");
  if (bucket === "") throw malformed(text, "the bucket name is missing");
  if (!BUCKET_NAME.test(bucket)) throw malformed(text, `invalid bucket name "${bucket}"`);
  // Tolerate one trailing slash ("/bucket/", "/bucket/sub/"), nothing else empty.
  if (rest[rest.length - 1] === "") rest.pop();
  if (rest.includes("")) throw malformed(text, "empty path segment");
  let segments: string[];
  try {
    segments = rest.map((segment) => decodeURIComponent(segment));
  } catch {
    throw malformed(text, "bad percent-encoding in the prefix");
  }
  const keyPrefix = segments.length === 0 ? "" : `${segments.join("/")}/`;
  return { endpoint: `${url.protocol}//${url.host}`, bucket, keyPrefix };
}

function malformed(text: string, why: string): UserError {
  return new UserError(`${USAGE}, got ${JSON.stringify(text)}: ${why}`);
}
