/**
 * A map that keeps its entries in order of use, least recently used first, with O(1) touch.
 *
 * Why not a plain Map, "touched" by delete + set: in Bun's JavaScriptCore a deleted Map entry
 * stays in its hash chain until the table is rebuilt, so deleting and re-adding the same key
 * makes that key's chain one longer each time and every lookup of it walks the chain. With 10k
 * entries a delete + set of one hot key (the directory a workload creates files in, a block read
 * again and again) cost 23 µs, at 100k 36 µs, against 0.01 µs for a set in place; and
 * `keys().next()` after deletions at the front walks the dead entries too (4–6 µs). bench/lru.ts
 * measures both. Here the Map only ever maps a key to its node: a touch relinks the node in a
 * doubly linked list and leaves the Map alone, so a key is deleted only when it leaves.
 */
import { assert } from "./assert.ts";

interface Node<K, V> {
  key: K;
  value: V;
  /** Towards the least recently used end. */
  older: Node<K, V> | undefined;
  /** Towards the most recently used end. */
  newer: Node<K, V> | undefined;
}

export class LruMap<K, V> {
  readonly #nodes = new Map<K, Node<K, V>>();
  #oldest: Node<K, V> | undefined;
  #newest: Node<K, V> | undefined;

  get size(): number {
    return this.#nodes.size;
  }

  has(key: K): boolean {
    return this.#nodes.has(key);
  }

  /** The value, its place in the order unchanged. */
  peek(key: K): V | undefined {
    return this.#nodes.get(key)?.value;
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    const node = this.#nodes.get(key);
    if (node === undefined) return undefined;
    this.#toNewest(node);
    return node.value;
  }

  /** Sets the value of `key`, which is now the most recently used. */
  set(key: K, value: V): void {
    const node = this.#nodes.get(key);
    if (node !== undefined) {
      node.value = value;
      this.#toNewest(node);
      return;
    }
    const added: Node<K, V> = { key, value, older: this.#newest, newer: undefined };
    if (this.#newest === undefined) this.#oldest = added;
    else this.#newest.newer = added;
    this.#newest = added;
    this.#nodes.set(key, added);
  }

  /** Removes `key`; true when it was there. */
  delete(key: K): boolean {
    const node = this.#nodes.get(key);
    if (node === undefined) return false;
    this.#unlink(node);
    this.#nodes.delete(key);
    return true;
  }

  /** The least recently used entry, left in place. */
  oldest(): [K, V] | undefined {
    const node = this.#oldest;
    return node === undefined ? undefined : [node.key, node.value];
  }

  /** Removes and returns the least recently used entry. */
  shift(): [K, V] | undefined {
    const node = this.#oldest;
    if (node === undefined) return undefined;
    this.#unlink(node);
    this.#nodes.delete(node.key);
    return [node.key, node.value];
  }

  /** Removes least recently used entries until at most `max` are left. */
  trimTo(max: number): void {
    while (this.#nodes.size > max) this.shift();
  }

  clear(): void {
    this.#nodes.clear();
    this.#oldest = undefined;
    this.#newest = undefined;
  }

  /** Entries from the least to the most recently used. Do not change the map while iterating. */
  *entries(): IterableIterator<[K, V]> {
    for (let node = this.#oldest; node !== undefined; node = node.newer) {
      yield [node.key, node.value];
    }
  }

  *keys(): IterableIterator<K> {
    for (let node = this.#oldest; node !== undefined; node = node.newer) yield node.key;
  }

  *values(): IterableIterator<V> {
    for (let node = this.#oldest; node !== undefined; node = node.newer) yield node.value;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  #toNewest(node: Node<K, V>): void {
    if (node === this.#newest) return;
    this.#unlink(node);
    node.older = this.#newest;
    node.newer = undefined;
    assert(this.#newest !== undefined, "a linked node has a newest");
    this.#newest.newer = node;
    this.#newest = node;
  }

  #unlink(node: Node<K, V>): void {
    if (node.older === undefined) this.#oldest = node.newer;
    else node.older.newer = node.newer;
    if (node.newer === undefined) this.#newest = node.older;
    else node.newer.older = node.older;
    node.older = undefined;
    node.newer = undefined;
  }
}
