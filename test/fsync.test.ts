/**
 * SharedDirSync (src/fsync.ts): directory fsyncs shared by concurrent callers, on a real
 * directory. What must hold: every caller's sync starts after it asked (so it covers the names
 * the caller made before), and callers that ask together share one.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SharedDirSync } from "../src/fsync.ts";

test("callers that ask together share directory fsyncs; a later caller gets a fresh one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jfs-fsync-"));
  try {
    const shared = new SharedDirSync(dir);
    const asks: Promise<void>[] = [];
    for (let i = 0; i < 16; i++) {
      writeFileSync(join(dir, `f${i}`), "x");
      asks.push(shared.sync());
    }
    await Promise.all(asks);
    // The first caller's sync, and one more for the 15 that asked while it ran.
    expect(shared.syncs).toBe(2);
    await shared.sync();
    expect(shared.syncs).toBe(3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a caller that asks while a sync runs waits for one that starts after it asked", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jfs-fsync-"));
  try {
    const shared = new SharedDirSync(dir);
    const order: string[] = [];
    const first = shared.sync().then(() => order.push("first"));
    const second = shared.sync().then(() => order.push("second"));
    expect(shared.syncs).toBe(1); // the second has not started: the first is still running
    await Promise.all([first, second]);
    expect(shared.syncs).toBe(2);
    expect(order).toEqual(["first", "second"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
