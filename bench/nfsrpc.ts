/**
 * Server CPU per NFS call: a `jfs serve --nfs` child on the embedded default (SQLite meta and a
 * local-directory bucket in a temp dir), driven by the test RPC client (test/nfs/nfsclient.ts)
 * with DEPTH calls in flight on one connection. The server's CPU is read from /proc/PID/stat
 * (utime + stime, all its threads) before and after each run, so the client's own CPU, in this
 * process, is not counted. Every call is answered from what the server already holds: the
 * handles and names exist and were used in a warm-up round at the same depth.
 *
 *   bun bench/nfsrpc.ts [--calls 20000] [--depths 1,16,64] [--procs getattr,lookup,access]
 *                       [--cpu-prof-dir DIR] [--server jfs|ganesha]
 *
 * Other procedures: read (4 KiB of a file that is in the block cache), commit (of that file,
 * nothing dirty), create and remove (UNCHECKED CREATE of new names in the root, each durable
 * when answered; remove takes the names create made, in order, so list create first and give
 * both the same --calls and --depths). lookup-new looks up those names the same way, each once
 * (list it between create and remove): a LOOKUP of a name the server has not looked up before,
 * as the kernel client's stat of many files sends. write-new writes 16 KiB FILE_SYNC into each
 * created file once, and read-new reads each such file's 16 KiB once (list them after create, in
 * that order): the WRITE and READ per file of bench/nfs.ts's create and small-file read phases.
 *
 * --server ganesha drives nfs-ganesha (FSAL VFS over a directory in /tmp, bench/ganesha.ts)
 * with the same calls instead, for its CPU per call beside jfs's.
 *
 * --cpu-prof-dir runs the server under `bun --cpu-prof` (the profile is written when it exits,
 * after the last run) so that the time of each call can be split by function.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Access3, CreateMode, StableHow } from "../nfs/nfs3/constants.ts";
import { makeVolume, spawnServe } from "../test/nfs/harness.ts";
import { NfsClient, ok } from "../test/nfs/nfsclient.ts";
import { inNamespace, insideNamespace, startGanesha } from "./ganesha.ts";

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}
const calls = Number(flag("calls", "20000"));
const depths = flag("depths", "1,16,64").split(",").map(Number);
const procs = flag("procs", "getattr,lookup,access").split(",");
const profDir = flag("cpu-prof-dir", "");
const serverKind = flag("server", "jfs");

const CLOCK_TICKS_PER_SEC = 100;
const ALL_ACCESS = Object.values(Access3).reduce((bits, bit) => bits | bit, 0);

/** utime + stime of a process, in µs (clock ticks of 10 ms: runs must be long enough). */
async function cpuMicros(pid: number): Promise<{ user: number; system: number }> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text();
  // Fields after "(comm)": state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const tick = 1e6 / CLOCK_TICKS_PER_SEC;
  return { user: Number(fields[11]) * tick, system: Number(fields[12]) * tick };
}

/** Runs `total` calls of `one`, `depth` at a time. */
async function drive(total: number, depth: number, one: () => Promise<unknown>): Promise<void> {
  let left = total;
  const worker = async () => {
    while (left > 0) {
      left -= 1;
      await one();
    }
  };
  await Promise.all(Array.from({ length: depth }, worker));
}

/** The server under test: its PID (for its CPU), NFS port and the root handle's export. */
interface Target {
  pid: number;
  nfsPort: number;
  mountPort: number;
  exportPath: string;
  stop(): Promise<void>;
}

async function startTarget(): Promise<Target> {
  if (serverKind === "ganesha") {
    const dir = mkdtempSync(join(tmpdir(), "jfs-bench-nfsrpc-"));
    const ganesha = await startGanesha(dir);
    return {
      pid: ganesha.pid,
      nfsPort: ganesha.nfsPort,
      mountPort: ganesha.mountPort,
      exportPath: `/${ganesha.exportPath}`,
      stop: async () => {
        await ganesha.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (serverKind !== "jfs") throw new Error(`--server ${serverKind}: jfs or ganesha`);
  const volume = await makeVolume();
  const bunArgs = profDir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${profDir}`];
  const server = await spawnServe(volume, [], { bunArgs });
  return {
    pid: server.proc.pid,
    nfsPort: server.port,
    mountPort: server.port,
    exportPath: "/",
    stop: async () => {
      await server.stop();
      volume[Symbol.dispose]();
    },
  };
}

// ganesha needs rpcbind, which listens on every address: this script re-runs itself in a
// network namespace of its own first (bench/ganesha.ts).
if (serverKind === "ganesha" && !insideNamespace()) process.exit(await inNamespace());
const target = await startTarget();
const pid = target.pid;
const client = await NfsClient.connect(target.nfsPort);
// jfs serves MOUNT on its NFS port; ganesha on a port of its own.
const mounter =
  target.mountPort === target.nfsPort ? client : await NfsClient.connect(target.mountPort);
const root = await mounter.mount(target.exportPath);
const file = ok(await client.create(root, "f"), "CREATE f").obj;
if (file === undefined) throw new Error("CREATE returned no handle");

const READ_BYTES = 4096;
ok(await client.write(file, 0, Buffer.alloc(READ_BYTES, 7), StableHow.FILE_SYNC), "WRITE f");
let created = 0;
let lookedUp = 0;
let removed = 0;
/** Handles of the files create made, in order, for write-new and read-new. */
const createdFiles: Buffer[] = [];
let writtenNew = 0;
let readNew = 0;
const SMALL_FILE_BYTES = 16 * 1024;
const smallFile = Buffer.alloc(SMALL_FILE_BYTES, 9);
function createdFile(index: number): Buffer {
  const handle = createdFiles[index];
  if (handle === undefined) throw new Error("write-new and read-new need as many creates first");
  return handle;
}
const unchecked = { mode: CreateMode.UNCHECKED, attributes: { mode: 0o644 } } as const;

const calling: Record<string, () => Promise<unknown>> = {
  getattr: async () => ok(await client.getattr(file), "GETATTR"),
  lookup: async () => ok(await client.lookup(root, "f"), "LOOKUP"),
  access: async () => ok(await client.access(file, ALL_ACCESS), "ACCESS"),
  read: async () => ok(await client.read(file, 0, READ_BYTES), "READ"),
  commit: async () => ok(await client.commit(file), "COMMIT"),
  create: async () => {
    const index = created++;
    const made = ok(await client.create(root, `c${index}`, unchecked), "CREATE").obj;
    if (made === undefined) throw new Error("CREATE returned no handle");
    createdFiles[index] = made;
  },
  "write-new": async () =>
    ok(await client.write(createdFile(writtenNew++), 0, smallFile, StableHow.FILE_SYNC), "WRITE"),
  "read-new": async () => {
    const { data } = ok(await client.read(createdFile(readNew++), 0, SMALL_FILE_BYTES), "READ");
    if (data.length !== SMALL_FILE_BYTES) throw new Error(`READ returned ${data.length} bytes`);
  },
  "lookup-new": async () => ok(await client.lookup(root, `c${lookedUp++}`), "LOOKUP"),
  remove: async () => ok(await client.remove(root, `c${removed++}`), "REMOVE"),
};

const loadAtStart = loadavg()[0] ?? 0;
const rows: string[] = [];
for (const name of procs) {
  const one = calling[name];
  if (one === undefined) throw new Error(`unknown procedure ${name}`);
  for (const depth of depths) {
    // Warm-up at this depth: the JIT compiles the hot path before anything is counted.
    await drive(Math.min(calls, 5000), depth, one);
    const before = await cpuMicros(pid);
    const started = performance.now();
    await drive(calls, depth, one);
    const seconds = (performance.now() - started) / 1000;
    const after = await cpuMicros(pid);
    const user = (after.user - before.user) / calls;
    const system = (after.system - before.system) / calls;
    const cells = [
      name.toUpperCase(),
      depth,
      calls,
      Math.round(calls / seconds),
      (user + system).toFixed(1),
      user.toFixed(1),
      system.toFixed(1),
    ];
    rows.push(`| ${cells.join(" | ")} |`);
    console.error(rows.at(-1));
  }
}
const loadAtEnd = loadavg()[0] ?? 0;
if (mounter !== client) await mounter.close();
await client.close();
await target.stop();

console.log(
  `bun bench/nfsrpc.ts --server ${serverKind} --calls ${calls} --depths ${depths.join(",")}`,
);
console.log(`1-minute load average: ${loadAtStart.toFixed(2)} → ${loadAtEnd.toFixed(2)}`);
console.log("");
console.log("| call | in flight | calls | calls/s | server CPU µs/call | user | system |");
console.log("|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
