/**
 * An idle `jfs serve --nfs` sleeps: its process uses next to no CPU while no call comes (its
 * timers, the write flush tick and the RPC sweep, are cheap). The bound is generous (a tenth
 * of a core) so that a loaded machine cannot fail it; a busy-polling loop does.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpuShareOver } from "../harness/cputime.ts";
import { makeVolume, spawnServe, type TestVolume } from "./harness.ts";

const IDLE_WINDOW_MS = 3000;
const IDLE_CPU_SHARE_MAX = 0.1;

let volume: TestVolume;

beforeAll(async () => {
  volume = await makeVolume();
});

afterAll(() => volume[Symbol.dispose]());

describe("idle jfs serve --nfs", () => {
  test("uses under a tenth of a core while no call comes", async () => {
    await using serve = await spawnServe(volume);
    // Startup work (JIT, the first heartbeat) is over within a moment.
    await Bun.sleep(500);
    const share = await cpuShareOver(serve.proc.pid, IDLE_WINDOW_MS);
    expect(share).toBeLessThan(IDLE_CPU_SHARE_MAX);
  }, 30_000);
});
