/**
 * jfs dump META-URL FILE and jfs load META-URL FILE — the whole metadata of a volume as JSON
 * Lines (see meta/dump.ts), to move it between engines over the same bucket. `-` (or no FILE:
 * cac drops a lone "-") is stdout or stdin. Both stream; load refuses a target that holds
 * anything unless --force.
 */
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { log } from "../log.ts";
import { dumpVolume, isEmpty, loadVolume, streamLines } from "../meta/dump.ts";
import { openEngine } from "../meta/index.ts";
import { Progress } from "./progress.ts";

/** Lines are written in chunks of about this size, waiting for the output to take each. */
const WRITE_CHUNK_BYTES = 256 * 1024;

/** Messages go to stderr: stdout may be the dump itself. */
function note(text: string): void {
  if (log.level >= 3) process.stderr.write(`${text}\n`);
}

export function registerDump(cli: CAC): void {
  cli
    .command("dump <META-URL> [FILE]", "Write all metadata of a volume as JSON lines (- = stdout)")
    .action(async (metaUrl: string, path: string | undefined) => {
      const file = path ?? "-";
      const engine = await openEngine(String(metaUrl), { create: false });
      const sink = String(file) === "-" ? Bun.stdout.writer() : Bun.file(String(file)).writer();
      let pending = "";
      let progress: Progress | undefined;
      try {
        const totals = await dumpVolume(
          engine,
          async (line) => {
            pending += `${line}\n`;
            if (pending.length < WRITE_CHUNK_BYTES) return;
            sink.write(pending);
            pending = "";
            await sink.flush();
          },
          (header) => {
            progress ??= new Progress("dump", header.inodes);
            progress.add();
          },
        );
        sink.write(pending);
        await sink.end();
        progress?.finish();
        const where = String(file) === "-" ? "stdout" : String(file);
        note(`dumped ${totals.nodes} inodes and ${totals.entries} entries to ${where}`);
        if (engine.engine === "redis") {
          note(
            "note: Redis has no snapshot; a volume written during the dump may be dumped inconsistently",
          );
        }
      } finally {
        await engine.close();
      }
    });

  cli
    .command("load <META-URL> [FILE]", "Load a dump into an empty metadata engine (- = stdin)")
    .option("--force", "Replace whatever the target holds")
    .action(async (metaUrl: string, path: string | undefined, flags: { force?: boolean }) => {
      const file = path ?? "-";
      const input = String(file) === "-" ? Bun.stdin.stream() : await openInput(String(file));
      const engine = await openEngine(String(metaUrl));
      try {
        if (!(await isEmpty(engine))) {
          if (!flags.force) {
            throw new UserError(
              `${engine.displayUrl} is not empty; load refuses to mix volumes (use --force to replace what it holds)`,
            );
          }
          await engine.destroy();
        }
        let progress: Progress | undefined;
        const totals = await loadVolume(
          engine,
          streamLines(input),
          (header) => {
            progress = new Progress("load", header.inodes);
          },
          () => progress?.add(),
        );
        progress?.finish();
        note(
          `loaded ${totals.nodes} inodes and ${totals.entries} entries into ${engine.displayUrl}`,
        );
      } finally {
        await engine.close();
      }
    });
}

async function openInput(path: string): Promise<ReadableStream<Uint8Array>> {
  const f = Bun.file(path);
  if (!(await f.exists())) throw new UserError(`Cannot load "${path}": no such file`);
  return f.stream();
}
