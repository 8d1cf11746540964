/**
 * What a "touch" of a recently-used map costs in this runtime: a plain Map touched by delete +
 * set (and evicted with keys().next()), against src/lru.ts's LruMap, at several sizes. The
 * delete + set of one hot key is what the attribute cache did for the directory a workload
 * creates files in, and the block caches for a block read again and again (see src/lru.ts).
 *
 *   bun bench/lru.ts [--ops 50000] [--sizes 1000,10000,100000]
 */
import { LruMap } from "../src/lru.ts";

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}
const ops = Number(flag("ops", "50000"));
const sizes = flag("sizes", "1000,10000,100000").split(",").map(Number);

function microsPerOp(run: () => void): number {
  const started = performance.now();
  run();
  return ((performance.now() - started) * 1000) / ops;
}

console.log(`Bun ${Bun.version}, ${ops} operations each, µs per operation\n`);
console.log(
  "| entries | Map touch (delete + set) | LruMap touch (get) | Map evict (keys().next()) | LruMap evict (shift) |",
);
console.log("|---|---|---|---|---|");
for (const size of sizes) {
  const map = new Map<number, number>();
  const lru = new LruMap<number, number>();
  for (let i = 0; i < size; i++) {
    map.set(i, i);
    lru.set(i, i);
  }
  const hot = size >> 1;
  const mapTouch = microsPerOp(() => {
    for (let i = 0; i < ops; i++) {
      const v = map.get(hot)!;
      map.delete(hot);
      map.set(hot, v);
    }
  });
  const lruTouch = microsPerOp(() => {
    for (let i = 0; i < ops; i++) lru.get(hot);
  });
  // Bounded insertion of new keys: each one pushes the oldest out.
  const mapEvict = microsPerOp(() => {
    for (let i = 0; i < ops; i++) {
      map.set(size + i, i);
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
  });
  const lruEvict = microsPerOp(() => {
    for (let i = 0; i < ops; i++) {
      lru.set(size + i, i);
      lru.shift();
    }
  });
  const f = (n: number) => n.toFixed(3);
  console.log(`| ${size} | ${f(mapTouch)} | ${f(lruTouch)} | ${f(mapEvict)} | ${f(lruEvict)} |`);
}
