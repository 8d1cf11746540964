/**
 * Child process of crash.test.ts: writes "durable" and fsyncs it, says so, then keeps writing
 * "pending" (fsync'ed once at 4 MiB, never after) until it is killed with SIGKILL.
 */
import { ROOT_CREDENTIALS as ctx } from "../../src/meta/interface.ts";
import { openRuntime } from "../../src/volume/runtime.ts";
import { pattern } from "./crashpattern.ts";

const [metaUrl, cacheDir] = process.argv.slice(2);
const rt = await openRuntime(metaUrl!, { cacheDir: cacheDir! }, "crash-test");
const PIECE = 256 * 1024;

const durable = await rt.vfs.create(ctx, 1, Buffer.from("durable"), 0o644, 0, 1);
for (let at = 0; at < 3 * 1024 * 1024 + 777; at += PIECE) {
  await rt.vfs.write(
    ctx,
    durable.inode,
    durable.fh,
    at,
    pattern(1, at, Math.min(PIECE, 3 * 1024 * 1024 + 777 - at)),
  );
}
await rt.vfs.fsync(ctx, durable.inode, durable.fh, false);
console.log("synced");

const pending = await rt.vfs.create(ctx, 1, Buffer.from("pending"), 0o644, 0, 1);
for (let at = 0, n = 0; ; at += PIECE, n++) {
  await rt.vfs.write(ctx, pending.inode, pending.fh, at, pattern(2, at, PIECE));
  if (at + PIECE === 4 * 1024 * 1024) await rt.vfs.fsync(ctx, pending.inode, pending.fh, false);
  if (n % 4 === 3) console.log(`wrote ${at + PIECE}`);
  if (n % 16 === 15) await Bun.sleep(1); // let the idle/age flushes and uploads run
}
