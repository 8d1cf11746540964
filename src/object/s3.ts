/**
 * Objects in an S3-compatible bucket, addressed path-style (http://host:port/bucket/key) so any
 * endpoint works: AWS, MinIO, Ceph RGW, s3rver. Key "K" is stored as "PREFIX" + "K", where PREFIX
 * is the path after the bucket in the URL ("http://h:9000/bucket/sub" stores under "sub/").
 *
 * The SDK's own retries are off (maxAttempts: 1): retry.ts owns the policy, so it is the same for
 * every call and testable with a fault proxy. Checksums are only computed when an operation
 * requires them; otherwise the SDK sends aws-chunked bodies with trailing checksums, which some
 * S3-compatible servers store verbatim, framing included: silent corruption.
 */

import type { GetObjectCommandOutput, S3Client, S3ClientConfig } from "@aws-sdk/client-s3";
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
import { describeS3Error, httpStatus, isTransientS3Error } from "./s3errors.ts";
import type { S3BucketUrl } from "./s3url.ts";
import { parseS3BucketUrl } from "./s3url.ts";

type Sdk = typeof import("@aws-sdk/client-s3");
let sdkLoad: Promise<Sdk> | undefined;

/**
 * The SDK is hundreds of modules that take tens of ms to evaluate: it loads with the first
 * request, so commands that never reach S3 (jfs --version, a file-store volume) skip it.
 */
function loadSdk(): Promise<Sdk> {
  sdkLoad ??= import("@aws-sdk/client-s3");
  return sdkLoad;
}

export interface S3ObjectStoreOptions {
  /** "http(s)://host:port/bucket[/prefix]" */
  bucketUrl: string;
  /** Without both keys, the SDK's default chain (env, profile, instance role) is used. */
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
  readonly #url: S3BucketUrl;
  readonly #config: S3ClientConfig;
  #client: S3Client | undefined;
  readonly #policy: RetryPolicy;
  readonly #outages: OutageTracker;

  constructor(options: S3ObjectStoreOptions) {
    this.#url = parseS3BucketUrl(options.bucketUrl);
    this.description = `${this.#url.endpoint}/${this.#url.bucket}/${this.#url.keyPrefix}`;
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
    this.#config = {
      endpoint: this.#url.endpoint,
      region: options.region ?? "us-east-1",
      forcePathStyle: true,
      ...(options.accessKey !== undefined && options.secretKey !== undefined
        ? { credentials: { accessKeyId: options.accessKey, secretAccessKey: options.secretKey } }
        : {}),
      maxAttempts: 1,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: { connectionTimeout: this.#policy.requestTimeoutMs },
    };
  }

  async #connect(): Promise<[Sdk, S3Client]> {
    const sdk = await loadSdk();
    this.#client ??= new sdk.S3Client(this.#config);
    return [sdk, this.#client];
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
    const range = ranged
      ? `bytes=${offset}-${length === undefined ? "" : offset + length - 1}`
      : undefined;
    return this.#retrying("GetObject", key, async (signal) => {
      const [sdk, client] = await this.#connect();
      const command = new sdk.GetObjectCommand({ ...this.#target(key), Range: range });
      let output: GetObjectCommandOutput;
      try {
        output = await client.send(command, { abortSignal: signal });
      } catch (error: unknown) {
        // 416: the range starts at or after the end of an existing object.
        if (httpStatus(error) === 416) return Buffer.alloc(0);
        throw error;
      }
      const body = await readBody(output, signal);
      if (ranged && output.ContentRange === undefined) {
        // The server ignored Range and sent the whole object.
        return body.subarray(offset, length === undefined ? undefined : offset + length);
      }
      return body;
    });
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await this.#retrying("PutObject", key, async (signal) => {
      const [sdk, client] = await this.#connect();
      const command = new sdk.PutObjectCommand({
        ...this.#target(key),
        Body: body,
        ContentLength: body.length,
      });
      await client.send(command, { abortSignal: signal });
    });
  }

  async delete(key: string): Promise<void> {
    await this.#retrying("DeleteObject", key, async (signal) => {
      const [sdk, client] = await this.#connect();
      try {
        await client.send(new sdk.DeleteObjectCommand(this.#target(key)), {
          abortSignal: signal,
        });
      } catch (error: unknown) {
        if (isNamed(error, "NoSuchKey")) return;
        throw error;
      }
    });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    return this.#retrying("HeadObject", key, async (signal) => {
      const [sdk, client] = await this.#connect();
      try {
        const command = new sdk.HeadObjectCommand(this.#target(key));
        const output = await client.send(command, { abortSignal: signal });
        return {
          key,
          sizeBytes: output.ContentLength ?? 0,
          mtimeMs: output.LastModified?.getTime() ?? 0,
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
    const input = {
      Bucket: bucket,
      Prefix: keyPrefix + prefix,
      ...(startAfter === "" ? {} : { StartAfter: keyPrefix + startAfter }),
      MaxKeys: Math.min(limit, OBJECT_LIST_PAGE_MAX),
    };
    const output = await this.#retrying("ListObjectsV2", prefix, async (signal) => {
      const [sdk, client] = await this.#connect();
      return client.send(new sdk.ListObjectsV2Command(input), { abortSignal: signal });
    });
    const objects: ObjectInfo[] = [];
    for (const item of output.Contents ?? []) {
      const fullKey = item.Key ?? "";
      if (!fullKey.startsWith(keyPrefix + prefix)) {
        throw new ObjectStoreError(
          `listing bucket "${bucket}" returned "${fullKey}", outside "${keyPrefix + prefix}"`,
        );
      }
      objects.push({
        key: fullKey.slice(keyPrefix.length),
        sizeBytes: item.Size ?? 0,
        mtimeMs: item.LastModified?.getTime() ?? 0,
      });
    }
    if (output.IsTruncated !== true) return { objects };
    const last = objects[objects.length - 1];
    if (last === undefined) {
      throw new ObjectStoreError(`listing bucket "${bucket}" returned an empty truncated page`);
    }
    return { objects, nextStartAfter: last.key };
  }

  async create(): Promise<void> {
    const { bucket } = this.#url;
    await this.#retrying("CreateBucket", undefined, async (signal) => {
      const [sdk, client] = await this.#connect();
      try {
        const command = new sdk.CreateBucketCommand({ Bucket: bucket });
        await client.send(command, { abortSignal: signal });
      } catch (error: unknown) {
        if (isNamed(error, "BucketAlreadyOwnedByYou")) return;
        // Some servers say "exists" for our own buckets too, and keys scoped to one bucket may
        // not create any: if the bucket answers us, it is ready. If not, the first error tells.
        if (!isNamed(error, "BucketAlreadyExists") && !isNamed(error, "AccessDenied")) throw error;
        try {
          const command = new sdk.HeadBucketCommand({ Bucket: bucket });
          await client.send(command, { abortSignal: signal });
        } catch {
          throw error;
        }
      }
    });
  }

  async close(): Promise<void> {
    this.#client?.destroy();
  }

  #target(key: string): { Bucket: string; Key: string } {
    if (key.length === 0) throw new ObjectStoreError("invalid object key: empty");
    return { Bucket: this.#url.bucket, Key: this.#url.keyPrefix + key };
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

interface GetOutput {
  Body?: { transformToByteArray(): Promise<Uint8Array> } | undefined;
  ContentLength?: number | undefined;
  ContentRange?: string | undefined;
}

/** The whole body, checked against Content-Length; a short body is a transient failure. */
async function readBody(output: GetOutput, signal: AbortSignal): Promise<Buffer> {
  const body = output.Body;
  if (body === undefined) return Buffer.alloc(0);
  // A stalled body must not outlive its attempt: destroying the stream frees the socket.
  const destroy = (): void => {
    if ("destroy" in body && typeof body.destroy === "function") body.destroy();
  };
  signal.addEventListener("abort", destroy, { once: true });
  try {
    const bytes = await body.transformToByteArray();
    if (output.ContentLength !== undefined && bytes.byteLength !== output.ContentLength) {
      throw new TransientError(
        `body has ${bytes.byteLength} bytes, Content-Length says ${output.ContentLength}`,
      );
    }
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } finally {
    signal.removeEventListener("abort", destroy);
  }
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
