/**
 * Objects in an S3-compatible bucket, addressed path-style (http://host:port/bucket/key) so any
 * endpoint works: AWS, MinIO, Ceph RGW, s3rver. Key "K" is stored as "PREFIX" + "K", where PREFIX
 * is the path after the bucket in the URL ("http://h:9000/bucket/sub" stores under "sub/").
 *
 * Requests are plain fetch calls signed with our own SigV4 (s3sign.ts), not the AWS SDK: the SDK
 * cost 7-13x the CPU per 16 KiB request and half the request rate (bench/s3client.ts,
 * docs/benchmarks.md "S3 client"). Bodies are sent whole with their SHA-256 signed, never
 * aws-chunked, which some S3-compatible servers store verbatim, framing included.
 *
 * retry.ts owns the retry policy, so it is the same for every call and testable with a fault
 * proxy; each attempt's deadline aborts its fetch, body included.
 */

import { assert, assertSafeUint } from "../assert.ts";
import { UserError } from "../errors.ts";
import {
  OBJECT_LIST_PAGE_MAX,
  OBJECT_REQUEST_TIMEOUT_MS,
  OBJECT_RETRIES_MAX,
  OBJECT_RETRY_BACKOFF_MS_BASE,
  OBJECT_RETRY_BACKOFF_MS_MAX,
} from "../limits.ts";
import type { ListPage, ObjectInfo, ObjectStore } from "./interface.ts";
import { ObjectNotFoundError, ObjectStoreError } from "./interface.ts";
import { type OutageTracker, outages } from "./outage.ts";
import type { RetryPolicy } from "./retry.ts";
import { AttemptTimeoutError, assertRetryPolicy, TransientError, withRetries } from "./retry.ts";
import { describeS3Error, httpStatus, isTransientS3Error, S3ResponseError } from "./s3errors.ts";
import { encodeKeyPath, type S3Credentials, signS3Request } from "./s3sign.ts";
import type { S3BucketUrl } from "./s3url.ts";
import { parseS3BucketUrl } from "./s3url.ts";
import { xmlBlocks, xmlText } from "./s3xml.ts";

type CredentialProvider = () => Promise<S3Credentials>;

/**
 * Without keys on the command line, the AWS default chain (env, profile, SSO, instance role)
 * finds them; it is dozens of modules, loaded only by stores that need it.
 */
async function loadDefaultProvider(): Promise<CredentialProvider> {
  const { defaultProvider } = await import("@aws-sdk/credential-provider-node");
  return defaultProvider();
}

interface S3Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

interface S3Request {
  method: "GET" | "PUT" | "HEAD" | "DELETE";
  /** The object key as the bucket names it; undefined for a bucket request. */
  fullKey?: string;
  query?: ReadonlyArray<readonly [string, string]>;
  headers?: Record<string, string>;
  /** Sent as their concatenation (see #bodyOf). */
  body?: readonly Uint8Array[];
}

export interface S3ObjectStoreOptions {
  /** "http(s)://host:port/bucket[/prefix]" */
  bucketUrl: string;
  /** Without both keys, the AWS default chain (env, profile, instance role) is used. */
  accessKey?: string;
  secretKey?: string;
  region?: string;
  requestTimeoutMs?: number;
  retriesMax?: number;
  retryBackoffMsBase?: number;
  retryBackoffMsMax?: number;
  /** Where calls report while they run (the outage log); the process's own by default. */
  outages?: OutageTracker;
}

export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  /** fetch() copies every body it sends (see #bodyOf). */
  readonly putCopiesBody = true;
  readonly #url: S3BucketUrl;
  readonly #region: string;
  readonly #host: string;
  readonly #keys: S3Credentials | undefined;
  #provider: Promise<CredentialProvider> | undefined;
  readonly #policy: RetryPolicy;
  readonly #outages: OutageTracker;
  /** Where a body of several parts is joined; reused by every request (see #bodyOf). */
  #joined: Buffer | undefined;

  constructor(options: S3ObjectStoreOptions) {
    this.#url = parseS3BucketUrl(options.bucketUrl);
    this.description = `${this.#url.endpoint}/${this.#url.bucket}/${this.#url.keyPrefix}`;
    this.#host = new URL(this.#url.endpoint).host;
    this.#policy = {
      requestTimeoutMs: options.requestTimeoutMs ?? OBJECT_REQUEST_TIMEOUT_MS,
      retriesMax: options.retriesMax ?? OBJECT_RETRIES_MAX,
      backoffMsBase: options.retryBackoffMsBase ?? OBJECT_RETRY_BACKOFF_MS_BASE,
      backoffMsMax: options.retryBackoffMsMax ?? OBJECT_RETRY_BACKOFF_MS_MAX,
    };
    assertRetryPolicy(this.#policy);
    this.#outages = options.outages ?? outages;
    if ((options.accessKey === undefined) !== (options.secretKey === undefined)) {
      throw new UserError("give both --access-key and --secret-key, or neither");
    }
    this.#region = options.region ?? "us-east-1";
    this.#keys =
      options.accessKey !== undefined && options.secretKey !== undefined
        ? { accessKeyId: options.accessKey, secretAccessKey: options.secretKey }
        : undefined;
  }

  async #credentials(): Promise<S3Credentials> {
    if (this.#keys !== undefined) return this.#keys;
    this.#provider ??= loadDefaultProvider();
    // The chain memoizes, and refreshes credentials that expire (instance roles).
    return (await this.#provider)();
  }

  /** One signed request; any answer but 2xx becomes an S3ResponseError. */
  async #send(request: S3Request, signal: AbortSignal): Promise<S3Answer> {
    const { bucket } = this.#url;
    const path =
      request.fullKey === undefined ? `/${bucket}` : `/${bucket}/${encodeKeyPath(request.fullKey)}`;
    const credentials = await this.#credentials();
    // From here to fetch() nothing awaits: the joined body is shared by all requests.
    const sent = request.body === undefined ? undefined : this.#bodyOf(request.body);
    const signed = signS3Request({
      method: request.method,
      path,
      query: request.query ?? [],
      host: this.#host,
      headers: request.headers ?? {},
      body: sent,
      region: this.#region,
      credentials,
      now: new Date(),
    });
    let answer: S3Answer;
    try {
      const response = await fetch(`${this.#url.endpoint}${path}${signed.search}`, {
        method: request.method,
        // Lengths are checked against Content-Length, so bodies must arrive as stored.
        headers: { ...signed.headers, "accept-encoding": "identity" },
        ...(sent === undefined ? {} : { body: sent }),
        redirect: "manual",
        signal,
      });
      const body = Buffer.from(await response.arrayBuffer());
      answer = { status: response.status, headers: response.headers, body };
    } catch (error: unknown) {
      if (signal.aborted) throw signal.reason;
      // No answer, or one that broke off: the network's fault, worth another attempt.
      const message = error instanceof Error ? error.message : String(error);
      throw new TransientError(`${request.method} got no whole answer: ${message}`, {
        cause: error,
      });
    }
    const length = answer.headers.get("content-length");
    if (request.method !== "HEAD" && length !== null && Number(length) !== answer.body.length) {
      throw new TransientError(
        `body has ${answer.body.length} bytes, Content-Length says ${length}`,
      );
    }
    if (answer.status < 200 || answer.status >= 300) throw responseError(answer);
    return answer;
  }

  async get(key: string, offset = 0, length?: number): Promise<Buffer> {
    assertSafeUint(offset, "offset");
    if (length !== undefined) assertSafeUint(length, "length");
    if (length === 0) {
      // No Range header can ask for zero bytes; the key must still exist.
      if ((await this.head(key)) === undefined) throw new ObjectNotFoundError(key);
      return Buffer.alloc(0);
    }
    const ranged = offset > 0 || length !== undefined;
    const headers: Record<string, string> = ranged
      ? { range: `bytes=${offset}-${length === undefined ? "" : offset + length - 1}` }
      : {};
    const fullKey = this.#target(key);
    return this.#retrying("GetObject", key, async (signal) => {
      let answer: S3Answer;
      try {
        answer = await this.#send({ method: "GET", fullKey, headers }, signal);
      } catch (error: unknown) {
        // 416: the range starts at or after the end of an existing object.
        if (httpStatus(error) === 416) return Buffer.alloc(0);
        throw error;
      }
      if (ranged && answer.status !== 206) {
        // The server ignored Range and sent the whole object.
        return answer.body.subarray(offset, length === undefined ? undefined : offset + length);
      }
      return answer.body;
    });
  }

  put(key: string, data: Uint8Array): Promise<void> {
    return this.putParts(key, [data]);
  }

  /**
   * The checksum store's block + trailer, without a buffer of their own per block: a fresh 4 MiB
   * copy per upload stayed in RSS until a full collection (issue 12: a 1 GiB write peaked at
   * 400-700 MiB on S3, 140 MiB on a directory).
   */
  async putParts(key: string, parts: readonly Uint8Array[]): Promise<void> {
    const fullKey = this.#target(key);
    await this.#retrying("PutObject", key, async (signal) => {
      await this.#send({ method: "PUT", fullKey, body: parts }, signal);
    });
  }

  /**
   * The body to sign and send. Several parts are joined into one buffer that every request
   * reuses: fetch() copies its body before it returns (Bun 1.4; test/object/s3parts.test.ts
   * fails if it stops doing so), and #send calls it with no await between joining and sending.
   */
  #bodyOf(parts: readonly Uint8Array[]): Uint8Array {
    if (parts.length === 1) return parts[0]!;
    let bytes = 0;
    for (const part of parts) bytes += part.length;
    if (this.#joined === undefined || this.#joined.length < bytes) {
      this.#joined = Buffer.allocUnsafe(bytes);
    }
    let at = 0;
    for (const part of parts) {
      this.#joined.set(part, at);
      at += part.length;
    }
    assert(at === bytes, "joined body length");
    return this.#joined.subarray(0, bytes);
  }

  async delete(key: string): Promise<void> {
    const fullKey = this.#target(key);
    await this.#retrying("DeleteObject", key, async (signal) => {
      try {
        await this.#send({ method: "DELETE", fullKey }, signal);
      } catch (error: unknown) {
        if (isNamed(error, "NoSuchKey")) return;
        throw error;
      }
    });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const fullKey = this.#target(key);
    return this.#retrying("HeadObject", key, async (signal) => {
      try {
        const { headers } = await this.#send({ method: "HEAD", fullKey }, signal);
        const modified = headers.get("last-modified");
        return {
          key,
          sizeBytes: Number(headers.get("content-length") ?? 0),
          mtimeMs: modified === null ? 0 : Date.parse(modified) || 0,
        };
      } catch (error: unknown) {
        // HEAD answers carry no body: a missing bucket is also a bare 404 here.
        if (httpStatus(error) === 404) return undefined;
        throw error;
      }
    });
  }

  async list(prefix: string, startAfter = "", limit = OBJECT_LIST_PAGE_MAX): Promise<ListPage> {
    assert(Number.isSafeInteger(limit) && limit >= 1, `list limit must be >= 1, got ${limit}`);
    const { keyPrefix, bucket } = this.#url;
    const query: [string, string][] = [
      ["list-type", "2"],
      ["prefix", keyPrefix + prefix],
      ["max-keys", String(Math.min(limit, OBJECT_LIST_PAGE_MAX))],
    ];
    if (startAfter !== "") query.push(["start-after", keyPrefix + startAfter]);
    const answer = await this.#retrying("ListObjectsV2", prefix, (signal) =>
      this.#send({ method: "GET", query }, signal),
    );
    const xml = answer.body.toString("utf8");
    if (!xml.includes("<ListBucketResult")) {
      throw new ObjectStoreError(`listing bucket "${bucket}" returned no ListBucketResult`);
    }
    const objects: ObjectInfo[] = [];
    for (const item of xmlBlocks(xml, "Contents")) {
      const fullKey = xmlText(item, "Key") ?? "";
      if (!fullKey.startsWith(keyPrefix + prefix)) {
        throw new ObjectStoreError(
          `listing bucket "${bucket}" returned "${fullKey}", outside "${keyPrefix + prefix}"`,
        );
      }
      const modified = xmlText(item, "LastModified");
      objects.push({
        key: fullKey.slice(keyPrefix.length),
        sizeBytes: Number(xmlText(item, "Size") ?? 0),
        mtimeMs: modified === undefined ? 0 : Date.parse(modified) || 0,
      });
    }
    if (xmlText(xml, "IsTruncated") !== "true") return { objects };
    const last = objects[objects.length - 1];
    if (last === undefined) {
      throw new ObjectStoreError(`listing bucket "${bucket}" returned an empty truncated page`);
    }
    return { objects, nextStartAfter: last.key };
  }

  async create(): Promise<void> {
    await this.#retrying("CreateBucket", undefined, async (signal) => {
      try {
        await this.#send({ method: "PUT" }, signal);
      } catch (error: unknown) {
        if (isNamed(error, "BucketAlreadyOwnedByYou")) return;
        // Some servers say "exists" for our own buckets too, and keys scoped to one bucket may
        // not create any: if the bucket answers us, it is ready. If not, the first error tells.
        if (!isNamed(error, "BucketAlreadyExists") && !isNamed(error, "AccessDenied")) throw error;
        try {
          await this.#send({ method: "HEAD" }, signal);
        } catch {
          throw error;
        }
      }
    });
  }

  async close(): Promise<void> {
    // fetch's connection pool is the process's; nothing of ours stays open.
  }

  /** The key as the bucket names it; checked before any request is made. */
  #target(key: string): string {
    if (key.length === 0) throw new ObjectStoreError("invalid object key: empty");
    return this.#url.keyPrefix + key;
  }

  #retrying<T>(
    operation: string,
    key: string | undefined,
    attempt: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const outages = this.#outages;
    const call = outages.begin(this.description, verbOf(operation), this.#fullKey(key));
    // "Answered" is any answer from the store, a 404 or a 403 too: only transient failures are
    // an outage.
    let answered = true;
    return withRetries(
      this.#policy,
      attempt,
      isTransientS3Error,
      (error, attempts) => describeS3Error(error, { operation, key, attempts, url: this.#url }),
      (error) => {
        answered = !(error instanceof AttemptTimeoutError || isTransientS3Error(error));
        if (!answered) outages.failed(call, error);
      },
    )
      .then((value) => {
        answered = true;
        return value;
      })
      .finally(() => outages.end(call, answered));
  }

  /** The key as the bucket names it, for logs. */
  #fullKey(key: string | undefined): string | undefined {
    return key === undefined ? undefined : this.#url.keyPrefix + key;
  }
}

/** HTTP status names for answers without an error document (HEAD, some proxies). */
const STATUS_NAMES: Record<number, string> = {
  301: "PermanentRedirect",
  307: "TemporaryRedirect",
  400: "BadRequest",
  403: "Forbidden",
  404: "NotFound",
  416: "InvalidRange",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
};

function responseError(answer: S3Answer): S3ResponseError {
  const xml = answer.body.toString("utf8");
  const code = xmlText(xml, "Code") ?? STATUS_NAMES[answer.status] ?? `HTTP${answer.status}`;
  const message = xmlText(xml, "Message") ?? `HTTP ${answer.status}`;
  return new S3ResponseError(code, message, answer.status);
}

function isNamed(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}

/** "PutObject" -> "PUT": what the outage log says is being retried. */
function verbOf(operation: string): string {
  const verbs: Record<string, string> = {
    GetObject: "GET",
    PutObject: "PUT",
    HeadObject: "HEAD",
    DeleteObject: "DELETE",
    ListObjectsV2: "LIST",
    CreateBucket: "CREATE BUCKET",
  };
  return verbs[operation] ?? operation;
}
