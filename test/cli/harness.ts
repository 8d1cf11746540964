/** Runs the jfs CLI as a real child process, as a user would. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MAIN = join(import.meta.dir, "../../src/main.ts");
/** Tests never touch the real ~/.jfs: every run gets this HOME unless the test sets one. */
const TEST_HOME = mkdtempSync(join(tmpdir(), "jfs-home-"));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function jfs(
  args: string[],
  env: Record<string, string | undefined> = {},
  stdin?: string,
  /** Kills the child after this long (a command that should fail may serve forever instead). */
  timeoutMs?: number,
): Promise<CliResult> {
  const proc = Bun.spawn(["bun", MAIN, ...args], {
    env: { ...process.env, HOME: TEST_HOME, ...env },
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => proc.kill(), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]).finally(() => clearTimeout(timer));
  return { code, stdout, stderr };
}
