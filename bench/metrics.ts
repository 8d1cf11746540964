/**
 * Cost of the metrics hooks (src/metrics/jfs.ts) per call, and of one full render of /metrics,
 * as docs/benchmarks.md reports them. The hooks run on every FUSE request, NFS call, meta
 * transaction, object request and block read, whether or not anything scrapes.
 *
 *   bun bench/metrics.ts
 */
import { loadavg } from "node:os";
import { cacheHit, objectRequest, opDone, registry, timedTxn } from "../src/metrics/jfs.ts";

const N = 1_000_000;
const OPS = ["READ", "WRITE", "LOOKUP", "GETATTR"];

function report(name: string, t0: number): void {
  console.log(`${name.padEnd(54)} ${((Bun.nanoseconds() - t0) / N).toFixed(0).padStart(6)} ns`);
}

function time(name: string, run: (i: number) => void): void {
  for (let i = 0; i < N / 10; i++) run(i);
  const t0 = Bun.nanoseconds();
  for (let i = 0; i < N; i++) run(i);
  report(name, t0);
}

async function timeAsync(name: string, run: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < N / 10; i++) await run();
  const t0 = Bun.nanoseconds();
  for (let i = 0; i < N; i++) await run();
  report(name, t0);
}

console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
let sink = 0;
time("performance.now() (two per timed hook)", () => {
  sink += performance.now();
});
time('opDone("nfs", op, start)', (i) => opDone("nfs", OPS[i & 3]!, performance.now()));
time('objectRequest("get") + done', () => objectRequest("get")(4096, false));
time('cacheHit("memory", bytes)', () => cacheHit("memory", 4096));
await timeAsync("timedTxn(read, an async function)", () => timedTxn("read", async () => 1));
await timeAsync("the async function alone (baseline of timedTxn)", async () => 1);
const t0 = Bun.nanoseconds();
const text = await registry.render();
console.log(
  `render /metrics: ${text.length} bytes in ${((Bun.nanoseconds() - t0) / 1e6).toFixed(2)} ms`,
);
if (sink < 0) console.log(sink); // read, so the clock calls are not optimized away
