/**
 * A store whose requests are counted and timed for /metrics (src/metrics/jfs.ts): count and
 * latency by operation, bytes put and got, failures, and requests in flight (puts in flight are
 * the uploads in flight). Outermost, so it sees what the chunk layer asks for: one get is one
 * request here even when the S3 client retried it underneath. A get or head of a missing key is
 * an answer, not a failure.
 */
import { objectRequest } from "../metrics/jfs.ts";
import type { ListPage, ObjectInfo, ObjectStore } from "./interface.ts";
import { ObjectNotFoundError } from "./interface.ts";

export class MeteredObjectStore implements ObjectStore {
  readonly description: string;
  readonly putCopiesBody: boolean;
  readonly local: boolean;
  /** Counted as a get. */
  readonly getParts?: (key: string, parts: readonly Uint8Array[]) => Promise<void>;

  constructor(readonly inner: ObjectStore) {
    this.description = inner.description;
    this.putCopiesBody = inner.putCopiesBody === true;
    this.local = inner.local === true;
    const innerGetParts = inner.getParts?.bind(inner);
    if (innerGetParts !== undefined) {
      this.getParts = (key, parts) =>
        meteredGet(
          () => innerGetParts(key, parts),
          () => parts.reduce((sum, part) => sum + part.byteLength, 0),
        );
    }
  }

  get(key: string, offset?: number, length?: number): Promise<Buffer> {
    return meteredGet(
      () => this.inner.get(key, offset, length),
      (data) => data.length,
    );
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const done = objectRequest("put");
    const bytes = data.length; // the caller may recycle `data` once put settles
    try {
      await this.inner.put(key, data);
      done(bytes, false);
    } catch (error: unknown) {
      done(0, true);
      throw error;
    }
  }

  delete(key: string): Promise<void> {
    return metered("delete", () => this.inner.delete(key));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return metered("head", () => this.inner.head(key));
  }

  list(prefix: string, startAfter?: string, limit?: number): Promise<ListPage> {
    return metered("list", () => this.inner.list(prefix, startAfter, limit));
  }

  create(): Promise<void> {
    return this.inner.create();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

async function metered<T>(op: "delete" | "head" | "list", run: () => Promise<T>): Promise<T> {
  const done = objectRequest(op);
  try {
    const result = await run();
    done(0, false);
    return result;
  } catch (error: unknown) {
    done(0, true);
    throw error;
  }
}

/** A get's count, latency and bytes; a missing key is an answer, not a failure. */
async function meteredGet<T>(run: () => Promise<T>, bytesOf: (result: T) => number): Promise<T> {
  const done = objectRequest("get");
  try {
    const result = await run();
    done(bytesOf(result), false);
    return result;
  } catch (error: unknown) {
    done(0, !(error instanceof ObjectNotFoundError));
    throw error;
  }
}
