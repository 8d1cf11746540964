/**
 * How S3 failures are judged and reported. Transient ones (5xx, throttling, resets, timeouts)
 * are retried by retry.ts; the rest become one-line errors that name the bucket and the likely
 * fix. Secrets never appear: messages hold the endpoint, bucket and key only.
 */
import { AssertionError } from "../assert.ts";
import { ObjectNotFoundError, ObjectStoreError } from "./interface.ts";
import { AttemptTimeoutError, TransientError } from "./retry.ts";
import type { S3BucketUrl } from "./s3url.ts";

/** Error codes S3 and compatible servers use for "slow down / try again". */
const TRANSIENT_NAMES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "TooManyRequests",
  "RequestLimitExceeded",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
  "TimeoutError",
]);

/** Socket-level failures worth another attempt (a restart, a flaky link, a dropped connection). */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
]);

const CAUSE_DEPTH_MAX = 5;

/**
 * An answer from the store that is not a success: `name` is S3's error code ("NoSuchKey"), or,
 * for bodiless answers (HEAD), a name for the status ("NotFound").
 */
export class S3ResponseError extends Error {
  readonly status: number;
  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = code;
    this.status = status;
  }
}

export function httpStatus(error: unknown): number | undefined {
  return error instanceof S3ResponseError ? error.status : undefined;
}

export function isTransientS3Error(error: unknown): boolean {
  const status = httpStatus(error);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (error instanceof Error && TRANSIENT_NAMES.has(error.name)) return true;
  if (status !== undefined) return false;
  // Network errors arrive bare or wrapped (AbortError caused by our deadline, fetch's own).
  let current: unknown = error;
  for (let depth = 0; depth < CAUSE_DEPTH_MAX && current instanceof Error; depth++) {
    if (current instanceof TransientError || current instanceof AttemptTimeoutError) return true;
    const code = "code" in current ? current.code : undefined;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    if (/socket hang up|connection (was )?(reset|closed)/i.test(current.message)) return true;
    current = current.cause;
  }
  return false;
}

export interface S3ErrorContext {
  operation: string;
  key: string | undefined;
  attempts: number;
  url: S3BucketUrl;
}

/** The error to show for a failed call, once retrying is over or pointless. */
export function describeS3Error(error: unknown, context: S3ErrorContext): Error {
  if (error instanceof ObjectStoreError || error instanceof ObjectNotFoundError) return error;
  if (error instanceof AssertionError) return error;
  const { operation, key, attempts, url } = context;
  const bucket = `bucket "${url.bucket}" at ${url.endpoint}`;
  const name = error instanceof Error ? error.name : "Error";
  const message = error instanceof Error ? error.message : String(error);
  const status = httpStatus(error);
  if (name === "NoSuchBucket") return new ObjectStoreError(`${bucket} does not exist`);
  if (name === "NoSuchKey" && key !== undefined) return new ObjectNotFoundError(key);
  if (name === "SignatureDoesNotMatch") {
    return new ObjectStoreError(`wrong secret key for ${bucket}: check --secret-key`);
  }
  if (name === "AccessDenied" || name === "InvalidAccessKeyId" || status === 403) {
    return new ObjectStoreError(`access denied to ${bucket}: check --access-key/--secret-key`);
  }
  const what =
    key === undefined ? `${operation} on ${bucket}` : `${operation} "${key}" in ${bucket}`;
  if (isTransientS3Error(error)) {
    return new Error(`${what} failed after ${attempts} attempts: ${message}`, { cause: error });
  }
  if (status !== undefined) {
    return new ObjectStoreError(`${what} failed: ${name} (HTTP ${status}): ${message}`);
  }
  return new Error(`${what} failed: ${message}`, { cause: error });
}
