/** jfs version / --version, and jfs mount where there is no FUSE. */
import { expect, test } from "bun:test";
import pkg from "../../package.json" with { type: "json" };
import { fuseUnavailableReason } from "../../src/cli/mount.ts";
import { jfs } from "./harness.ts";

const LINE = `jfs ${pkg.version} (commit source, ${process.platform}-${process.arch}, bun ${Bun.version})\n`;

test("--version, -v and version print version, commit, target and Bun version", async () => {
  for (const args of [["--version"], ["-v"], ["version"]]) {
    const r = await jfs(args);
    expect(r).toEqual({ code: 0, stdout: LINE, stderr: "" });
  }
  const json = await jfs(["version", "--json"]);
  expect(JSON.parse(json.stdout)).toEqual({
    version: pkg.version,
    commit: "source",
    target: `${process.platform}-${process.arch}`,
    bun: Bun.version,
  });
});

test("mount off Linux points to jfs serve --nfs in one line", () => {
  expect(fuseUnavailableReason("linux")).toBeUndefined();
  const darwin = fuseUnavailableReason("darwin")!;
  expect(darwin).toStartWith("FUSE is not available on macOS");
  expect(darwin).toContain("jfs serve --nfs");
  expect(darwin).not.toContain("\n");
});
