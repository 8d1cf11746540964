/**
 * Counting a running process's fsyncs: strace attached to every thread of a PID (-f), tracing
 * fsync and fdatasync with the path of each descriptor (-y) and an epoch timestamp (-ttt), so a
 * test can tell which syncs of, say, a SQLite WAL happened in which phase of its workload
 * (phases stamped with Date.now() in the test or performance.timeOrigin + now()).
 */
import { readFileSync } from "node:fs";

export const HAVE_STRACE = Bun.which("strace") !== null;
const ATTACH_TIMEOUT_MS = 10_000;

export interface SyncCall {
  /** When the call was made, ms since the epoch. */
  atMs: number;
  /** The path of the descriptor synced. */
  path: string;
}

export interface SyncTrace {
  /** Detaches strace and returns every sync the process made while it was attached. */
  stop(): Promise<SyncCall[]>;
}

/** Attaches to `pid`; resolves once its main thread is traced. `out` is strace's output file. */
export async function traceSyncs(pid: number, out: string): Promise<SyncTrace> {
  const proc = Bun.spawn(
    ["strace", "-f", "-ttt", "-y", "-e", "trace=fsync,fdatasync", "-o", out, "-p", String(pid)],
    { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
  );
  let stderr = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of proc.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  const deadline = performance.now() + ATTACH_TIMEOUT_MS;
  while (!stderr.includes(`Process ${pid} attached`)) {
    if (proc.exitCode !== null || performance.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`strace -p ${pid} did not attach: ${stderr}`);
    }
    await Bun.sleep(10);
  }
  return {
    async stop() {
      proc.kill("SIGINT"); // detaches, and writes out what it traced
      await proc.exited;
      await reading;
      return parseSyncs(readFileSync(out, "utf8"));
    },
  };
}

/**
 * Lines as `1733350000.123456 fsync(9</tmp/x/meta.db-wal>) = 0` after an optional pid, or
 * `... fsync(9</tmp/x/meta.db-wal> <unfinished ...>` when another thread's call interleaves.
 */
function parseSyncs(text: string): SyncCall[] {
  const calls: SyncCall[] = [];
  for (const line of text.split("\n")) {
    const m = /^(?:\d+\s+)?(\d+\.\d+) f(?:data)?sync\(\d+<([^>]*)>/.exec(line);
    if (m) calls.push({ atMs: Number(m[1]) * 1000, path: m[2]! });
  }
  return calls;
}
