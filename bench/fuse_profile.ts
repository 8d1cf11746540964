/**
 * A `jfs mount` that counts its FUSE requests: the same runtime and FuseSession as
 * src/cli/mount.ts, with the dispatcher's entry (Dispatcher.handle) and the reply writer
 * (FuseChannel.reply) wrapped to count requests per opcode and time each one from its arrival
 * on the main thread to its reply (the VFS's service time; the kernel and the reader thread
 * hop are outside it). FORGETs are dropped by the reader threads and never counted. Calls
 * into meta ("meta.write") and the object store ("store.put") are timed the same way, so a
 * request's time splits into its backend calls and the rest.
 *
 *   bun bench/fuse_profile.ts META-URL DIR CACHE-DIR [--writeback]
 *
 * Prints "profile: PORT" once mounted; then, on 127.0.0.1:PORT, GET /phase/NAME starts a new
 * phase (requests count towards the phase current at their arrival) and GET /stats returns
 * {phase: {opcode: {count, totalMs, maxMs}}} as JSON. SIGTERM unmounts, flushes and exits.
 */
import { FuseChannel } from "../src/fuse/channel.ts";
import { Dispatcher } from "../src/fuse/dispatch.ts";
import { opcodeName } from "../src/fuse/protocol.ts";
import { FuseSession } from "../src/fuse/session.ts";
import { DEFAULT_FUSE_CONFIG } from "../src/fuse/state.ts";
import { openRuntime } from "../src/volume/runtime.ts";

interface OpStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

const [metaUrl, dir, cacheDir, ...rest] = process.argv.slice(2);
if (metaUrl === undefined || dir === undefined || cacheDir === undefined) {
  console.error("usage: bun bench/fuse_profile.ts META-URL DIR CACHE-DIR");
  process.exit(2);
}

const phases = new Map<string, Map<string, OpStats>>();
let phase = "setup";
/** unique → [phase, opcode name, arrival ms] of requests not answered yet. */
const pending = new Map<bigint, [string, string, number]>();

function record(phaseName: string, op: string, ms: number): void {
  let ops = phases.get(phaseName);
  if (ops === undefined) {
    ops = new Map();
    phases.set(phaseName, ops);
  }
  const s = ops.get(op) ?? { count: 0, totalMs: 0, maxMs: 0 };
  s.count++;
  s.totalMs += ms;
  s.maxMs = Math.max(s.maxMs, ms);
  ops.set(op, s);
}

const handle = Dispatcher.prototype.handle;
Dispatcher.prototype.handle = function (this: Dispatcher, raw: Buffer, fd: number): void {
  if (raw.length >= 16) {
    const opcode = raw.readUInt32LE(4);
    const unique = raw.readBigUInt64LE(8);
    pending.set(unique, [phase, opcodeName(opcode), performance.now()]);
  }
  handle.call(this, raw, fd);
};

const reply = FuseChannel.prototype.reply;
FuseChannel.prototype.reply = function (
  this: FuseChannel,
  fd: number,
  pieces: readonly Uint8Array[],
): void {
  const header = pieces[0];
  if (header !== undefined && header.length >= 16) {
    const unique = Buffer.from(header.buffer, header.byteOffset, 16).readBigUInt64LE(8);
    const started = pending.get(unique);
    if (started !== undefined) {
      pending.delete(unique);
      record(started[0], started[1], performance.now() - started[2]);
    }
  }
  reply.call(this, fd, pieces);
};

function stats(): Record<string, Record<string, OpStats>> {
  const out: Record<string, Record<string, OpStats>> = {};
  for (const [name, ops] of phases) out[name] = Object.fromEntries(ops);
  return out;
}

/** Wraps `names` methods of `target` (an instance) to count and time them as `prefix.name`. */
function timeMethods(prefix: string, target: object, names: readonly string[]): void {
  const methods = target as Record<string, unknown>;
  for (const name of names) {
    const original = methods[name];
    if (typeof original !== "function") continue;
    methods[name] = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const at = phase;
      const start = performance.now();
      try {
        return await (original as (...a: unknown[]) => Promise<unknown>).apply(this, args);
      } finally {
        record(at, `${prefix}.${name}`, performance.now() - start);
      }
    };
  }
}

const runtime = await openRuntime(
  metaUrl,
  { cacheDir, writeback: rest.includes("--writeback") },
  dir,
);
timeMethods("store", runtime.store, ["put", "get", "head", "delete"]);
timeMethods("vfs", runtime.vfs, ["read", "write", "flush", "open", "release"]);
timeMethods("chunks", runtime.data.chunks, ["readBlock", "putBlock"]);
if (runtime.data.chunks.diskCache !== undefined) {
  timeMethods("disk", runtime.data.chunks.diskCache, ["read", "put"]);
}
timeMethods("meta", runtime.meta, [
  "lookup",
  "getattr",
  "setattr",
  "mknod",
  "create",
  "mkdir",
  "unlink",
  "rmdir",
  "open",
  "release",
  "getxattr",
  "newSliceId",
  "readChunk",
  "write",
]);
const session = await FuseSession.start(runtime.vfs, dir, {
  ...DEFAULT_FUSE_CONFIG,
  fsname: `jfs:${runtime.vfs.format.name}`,
  allowOther: false,
  defaultPermissions: true,
});
const control = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path.startsWith("/phase/")) {
      phase = decodeURIComponent(path.slice("/phase/".length));
      return new Response("ok\n");
    }
    if (path === "/stats") return Response.json(stats());
    return new Response("not found\n", { status: 404 });
  },
});
process.on("SIGTERM", () => void session.stop());
console.log(`profile: ${control.port}`);
await session.ended;
void control.stop(true);
await runtime.close();
process.exit(0);
