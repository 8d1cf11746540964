/**
 * install.sh from a checkout prints its own lines only: not the `$ bun build ...` that
 * `bun run` echoes. The checkout is a small one of its own (a real package whose build script
 * compiles a one-line main with `bun build --compile`), so the test builds in a second, not
 * the whole of jfs.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const INSTALL_SH = join(import.meta.dir, "../../install.sh");
const dir = mkdtempSync(join(tmpdir(), "jfs-install-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("install.sh from source prints only its own lines", async () => {
  const checkout = join(dir, "checkout");
  mkdirSync(join(checkout, "src"), { recursive: true });
  const build = "bun build --compile --outfile dist/jfs src/main.ts";
  writeFileSync(
    join(checkout, "package.json"),
    JSON.stringify({ name: "jfs-install-test", private: true, scripts: { build } }),
  );
  writeFileSync(join(checkout, "src", "main.ts"), 'console.log("jfs/0.0.0-install-test");\n');
  const bin = join(dir, "bin");
  const proc = Bun.spawn(["sh", INSTALL_SH], {
    env: { ...process.env, JFS_SOURCE: checkout, JFS_INSTALL_DIR: bin, HOME: dir },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  expect(code).toBe(0);
  const lines = (stdout + stderr).trim().split("\n");
  for (const line of lines) expect(line).toStartWith("jfs-install: ");
  expect(stdout).toContain(`installed jfs/0.0.0-install-test at ${join(bin, "jfs")}`);
});
