/**
 * A store seen through a key prefix: key "K" is the inner key PREFIX + "K". jfs keeps each volume
 * under "NAME/" of a bucket, so several volumes can share one bucket without seeing each other.
 */
import { assert } from "../assert.ts";
import type { ListPage, ObjectInfo, ObjectStore } from "./interface.ts";
import { ObjectNotFoundError } from "./interface.ts";

export class PrefixedObjectStore implements ObjectStore {
  readonly description: string;
  readonly putCopiesBody: boolean;
  readonly local: boolean;
  readonly getParts?: (key: string, parts: readonly Uint8Array[]) => Promise<void>;

  constructor(
    readonly inner: ObjectStore,
    readonly prefix: string,
  ) {
    assert(prefix.length > 0, "a key prefix must not be empty");
    assert(!prefix.startsWith("/") && !prefix.includes("\0"), `invalid key prefix "${prefix}"`);
    this.description = `${inner.description}${prefix}`;
    this.putCopiesBody = inner.putCopiesBody === true;
    this.local = inner.local === true;
    const innerGetParts = inner.getParts?.bind(inner);
    if (innerGetParts !== undefined) {
      this.getParts = (key, parts) =>
        outerKeyed(key, () => innerGetParts(this.prefix + key, parts));
    }
  }

  get(key: string, offset?: number, length?: number): Promise<Buffer> {
    return outerKeyed(key, () => this.inner.get(this.prefix + key, offset, length));
  }

  put(key: string, data: Uint8Array): Promise<void> {
    return this.inner.put(this.prefix + key, data);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(this.prefix + key);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const info = await this.inner.head(this.prefix + key);
    return info === undefined ? undefined : { ...info, key };
  }

  async list(prefix: string, startAfter?: string, limit?: number): Promise<ListPage> {
    const innerStartAfter = startAfter ? this.prefix + startAfter : undefined;
    const page = await this.inner.list(this.prefix + prefix, innerStartAfter, limit);
    const objects = page.objects.map((info) => ({ ...info, key: this.#outer(info.key) }));
    return page.nextStartAfter === undefined
      ? { objects }
      : { objects, nextStartAfter: this.#outer(page.nextStartAfter) };
  }

  create(): Promise<void> {
    return this.inner.create();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #outer(innerKey: string): string {
    assert(
      innerKey.startsWith(this.prefix),
      `inner key "${innerKey}" lacks prefix "${this.prefix}"`,
    );
    return innerKey.slice(this.prefix.length);
  }
}

/** `run`, with a missing object reported under the key the caller asked for. */
async function outerKeyed<T>(key: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error: unknown) {
    if (error instanceof ObjectNotFoundError) throw new ObjectNotFoundError(key);
    throw error;
  }
}
