/**
 * jfs objbench — raw throughput of an object store (JuiceFS's `juicefs objbench`): the ceiling
 * the data path is measured against.
 */
import { randomBytes } from "node:crypto";
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { BLOCK_SIZE_KIB_DEFAULT, BLOCK_SIZE_KIB_MAX, Units } from "../limits.ts";
import { createObjectStore } from "../object/index.ts";
import type { ObjectStore } from "../object/interface.ts";
import { parseIntFlag, stringFlag } from "./options.ts";
import { Progress, runPool, table } from "./progress.ts";

/** Defaults of --objects and --threads (shown in the help from here). */
const OBJECTS_DEFAULT = 100;
const THREADS_DEFAULT = 20;

interface ObjbenchFlags {
  storage?: unknown;
  bucket?: unknown;
  accessKey?: unknown;
  secretKey?: unknown;
  blockSize?: unknown;
  objects?: unknown;
  threads?: unknown;
  json?: boolean;
}

interface Result {
  name: string;
  count: number;
  seconds: number;
  bytes: number;
  latenciesMs: number[];
}

async function timed(
  name: string,
  count: number,
  threads: number,
  bytesEach: number,
  task: (i: number) => Promise<void>,
): Promise<Result> {
  const latenciesMs: number[] = [];
  const progress = new Progress(name, count);
  const t0 = performance.now();
  await runPool(
    count,
    threads,
    async (i) => {
      const t = performance.now();
      await task(i);
      latenciesMs.push(performance.now() - t);
    },
    progress,
  );
  const seconds = (performance.now() - t0) / 1000;
  return { name, count, seconds, bytes: bytesEach * count, latenciesMs };
}

function row(r: Result): string[] {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const p = (q: number) => (sorted[Math.floor((sorted.length - 1) * q)] ?? 0).toFixed(2);
  const mibps = r.bytes > 0 ? (r.bytes / Units.MiB / r.seconds).toFixed(1) : "-";
  return [r.name, String(r.count), (r.count / r.seconds).toFixed(0), mibps, p(0.5), p(0.99)];
}

/** One operation's figures for scripts: the counts, rates and latency percentiles. */
function resultJson(r: Result) {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const p = (q: number) => sorted[Math.floor((sorted.length - 1) * q)] ?? 0;
  const { latenciesMs: _all, ...rest } = r;
  return { ...rest, opsPerSecond: r.count / r.seconds, p50Ms: p(0.5), p99Ms: p(0.99) };
}

export async function runObjbench(
  store: ObjectStore,
  blockBytes: number,
  objects: number,
  threads: number,
) {
  const prefix = `__jfs_objbench_${randomBytes(4).toString("hex")}/`;
  const key = (i: number) => `${prefix}${String(i).padStart(8, "0")}`;
  const block = randomBytes(blockBytes);
  const small = 4 * Units.KiB;
  const results: Result[] = [];
  try {
    results.push(await timed("put", objects, threads, blockBytes, (i) => store.put(key(i), block)));
    results.push(
      await timed("get", objects, threads, blockBytes, async (i) => {
        const got = await store.get(key(i));
        if (got.length !== blockBytes) throw new Error(`short object ${key(i)}`);
      }),
    );
    results.push(
      await timed("get 4 KiB at random", objects, threads, small, async (i) => {
        const offset = Math.floor(Math.random() * (blockBytes - small));
        await store.get(key(i), offset, small);
      }),
    );
    results.push(
      await timed("head", objects, threads, 0, async (i) => void (await store.head(key(i)))),
    );
    const pages = Math.ceil(objects / 100);
    results.push(
      await timed("list 100", pages, 1, 0, async (i) => {
        await store.list(prefix, i === 0 ? undefined : key(i * 100 - 1), 100);
      }),
    );
  } finally {
    results.push(await timed("delete", objects, threads, 0, (i) => store.delete(key(i))));
  }
  return results;
}

export function registerObjbench(cli: CAC): void {
  cli
    .command("objbench", "Measure an object store's raw put/get/list/delete throughput")
    .option("--storage <type>", "file or s3 (default: file)")
    .option("--bucket <bucket>", "A directory for file; http(s)://host:port/bucket for s3")
    .option("--access-key <key>", "S3 access key (or env ACCESS_KEY)")
    .option("--secret-key <key>", "S3 secret key (or env SECRET_KEY)")
    .option("--block-size <KiB>", `Object size in KiB (default: ${BLOCK_SIZE_KIB_DEFAULT})`)
    .option("--objects <n>", `Objects to write, read and delete (default: ${OBJECTS_DEFAULT})`)
    .option("--threads <n>", `Requests in flight (default: ${THREADS_DEFAULT})`)
    .option("--json", "Print one JSON object, for scripts")
    .example("jfs objbench --storage s3 --bucket http://127.0.0.1:9000/test")
    .action(async (flags: ObjbenchFlags) => {
      const bucket = stringFlag(flags.bucket);
      if (bucket === undefined) throw new UserError("objbench needs --bucket");
      const blockKiB = parseIntFlag(
        "block-size",
        flags.blockSize ?? BLOCK_SIZE_KIB_DEFAULT,
        4,
        BLOCK_SIZE_KIB_MAX,
      );
      const objects = parseIntFlag("objects", flags.objects ?? OBJECTS_DEFAULT, 1, 1_000_000);
      const threads = parseIntFlag("threads", flags.threads ?? THREADS_DEFAULT, 1, 1000);
      const store = createObjectStore({
        storage: stringFlag(flags.storage) ?? "file",
        bucket,
        accessKey: stringFlag(flags.accessKey) ?? process.env.ACCESS_KEY,
        secretKey: stringFlag(flags.secretKey) ?? process.env.SECRET_KEY,
      });
      try {
        await store.create().catch(() => undefined);
        const results = await runObjbench(store, blockKiB * Units.KiB, objects, threads);
        if (flags.json) {
          const plan = { store: store.description, objects, blockKiB, threads };
          console.log(JSON.stringify({ ...plan, results: results.map(resultJson) }));
          return;
        }
        console.log(
          `objbench of ${store.description}: ${objects} objects of ${blockKiB} KiB, ${threads} in flight`,
        );
        console.log(
          table(["operation", "count", "ops/s", "MiB/s", "p50 ms", "p99 ms"], results.map(row)),
        );
      } finally {
        await store.close();
      }
    });
}
