/**
 * Child process of crash.test.ts: random namespace operations on a volume, forever, printing
 * how many it finished. The parent kills it with SIGKILL at some point in the middle.
 */

import { ROOT_INODE } from "../../src/limits.ts";
import { BaseMeta } from "../../src/meta/base.ts";
import { openEngine } from "../../src/meta/index.ts";
import { ROOT_CREDENTIALS as ctx, FileType } from "../../src/meta/interface.ts";
import { rng } from "./model.ts";

const [url, seedText] = process.argv.slice(2);
const meta = new BaseMeta(await openEngine(url!));
await meta.load();
const rand = rng(Number(seedText));
const names = ["a", "b", "c", "d", "e", "f"].map((n) => Buffer.from(n));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

/** Directories known to exist (may be stale: operations on them may fail, which is fine). */
const dirs: number[] = [ROOT_INODE];
let done = 0;
for (;;) {
  const parent = pick(dirs);
  const name = pick(names);
  const op = Math.floor(rand() * 7);
  try {
    if (op === 0) dirs.push((await meta.mkdir(ctx, parent, name, 0o755, 0)).inode);
    else if (op === 1) await meta.mknod(ctx, parent, name, FileType.File, 0o644, 0, 0);
    else if (op === 2) await meta.unlink(ctx, parent, name);
    else if (op === 3) await meta.rmdir(ctx, parent, name);
    else if (op === 4) await meta.rename(ctx, parent, name, pick(dirs), pick(names), 0);
    else if (op === 5) {
      const { inode } = await meta.lookup(ctx, parent, name);
      await meta.link(ctx, inode, pick(dirs), pick(names));
    } else await meta.symlink(ctx, parent, name, Buffer.from("t"));
  } catch {
    // ENOENT, EEXIST, ENOTEMPTY ... are expected in a random walk.
  }
  done++;
  if (done % 50 === 0) console.log(done);
}
