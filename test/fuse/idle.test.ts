/**
 * An idle mount sleeps: its process uses next to no CPU while no request comes. A live FUSE
 * connection must hold the event loop open itself; with nothing ref'd, Bun's wait on main's
 * top-level await busy-polls (oven-sh/bun#14951) and a mount doing nothing kept 30-90% of a
 * core busy. The bound is generous (a tenth of a core) so that a loaded machine cannot fail it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cpuShareOver } from "../harness/cputime.ts";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

const IDLE_WINDOW_MS = 3000;
const IDLE_CPU_SHARE_MAX = 0.1;

describe.skipIf(!HAVE_FUSE)("idle FUSE mount", () => {
  let volume: TestVolume;
  let mounted: Mounted | undefined;

  beforeAll(async () => {
    volume = await createVolume("fuseidle");
  });

  afterAll(async () => {
    await forceCleanup(mounted);
    volume.cleanup();
  });

  test("uses under a tenth of a core while no request comes", async () => {
    mounted = await startMount(volume, join(volume.root, "mnt"));
    // Startup work (JIT, the INIT exchange, the first heartbeat) is over within a moment.
    await Bun.sleep(500);
    const share = await cpuShareOver(mounted.proc.pid, IDLE_WINDOW_MS);
    expect(share).toBeLessThan(IDLE_CPU_SHARE_MAX);
    await stopMount(mounted);
    mounted = undefined;
  }, 30_000);
});
