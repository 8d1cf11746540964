/**
 * libnfs-utils (nfs-cp, nfs-ls, nfs-cat), a real userspace NFSv3 client, against the server:
 * files copied in and out compare equal by sha256, listings show what was written.
 *
 * libnfs URLs: nfs://127.0.0.1//NAME?nfsport=P&mountport=P&version=3 — the doubled slash makes
 * "/" the export and "/NAME" the file (with a single slash libnfs would mount "").
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type InProcessNfs, makeVolume, startNfs, type TestVolume } from "./harness.ts";

const haveLibnfs = Bun.which("nfs-cp") !== null && Bun.which("nfs-ls") !== null;

let volume: TestVolume;
let nfs: InProcessNfs;
let local: string;

beforeAll(async () => {
  if (!haveLibnfs) return;
  volume = await makeVolume();
  nfs = await startNfs(volume);
  local = mkdtempSync(join(tmpdir(), "jfs-libnfs-"));
});

afterAll(async () => {
  if (!haveLibnfs) return;
  await nfs.stop();
  volume[Symbol.dispose]();
  rmSync(local, { recursive: true, force: true });
});

const url = (path: string) =>
  `nfs://127.0.0.1/${path}?nfsport=${nfs.port}&mountport=${nfs.port}&version=3`;
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Runs a libnfs tool without blocking the in-process server. */
async function run(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => proc.kill(), 60_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout: Buffer.from(stdout), stderr };
}

describe.skipIf(!haveLibnfs)("libnfs-utils", () => {
  const sizes = [0, 1, 4095, 65_537, (1 << 20) + 1, 5_000_000];

  test("nfs-cp in and out, nfs-cat, nfs-ls: same bytes, same sizes", async () => {
    const files = sizes.map((size) => ({
      name: `file-${size}`,
      data: crypto.getRandomValues(new Uint8Array(size)),
    }));
    for (const { name, data } of files) {
      const source = join(local, name);
      writeFileSync(source, data);
      const copyIn = await run(["nfs-cp", source, url(`/${name}`)]);
      expect(copyIn.stderr).toBe("");
      expect(copyIn.code).toBe(0);
    }
    const listing = await run(["nfs-ls", url("")]);
    expect(listing.code).toBe(0);
    const lines = listing.stdout.toString().trim().split("\n");
    for (const { name, data } of files) {
      const line = lines.find((l) => l.endsWith(` ${name}`));
      expect(line).toBeDefined();
      expect(line?.split(/\s+/).at(-2)).toBe(String(data.byteLength));
    }
    for (const { name, data } of files) {
      const target = join(local, `${name}.back`);
      const copyOut = await run(["nfs-cp", url(`/${name}`), target]);
      expect(copyOut.code).toBe(0);
      expect(sha256(readFileSync(target))).toBe(sha256(data));
      const cat = await run(["nfs-cat", url(`/${name}`)]);
      expect(cat.code).toBe(0);
      expect(sha256(cat.stdout)).toBe(sha256(data));
    }
  });

  test("a missing file is an error from nfs-cat, and the server keeps serving", async () => {
    const cat = await run(["nfs-cat", url("/does-not-exist")]);
    expect(cat.code).not.toBe(0);
    const listing = await run(["nfs-ls", url("")]);
    expect(listing.code).toBe(0);
  });
});
