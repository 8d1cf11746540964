/**
 * `jfs serve --nfs --port 0` records the port it got in its session, so `jfs status` says
 * where the volume is served.
 */
import { expect, test } from "bun:test";
import { makeVolume, spawnServe } from "../nfs/harness.ts";
import { jfs } from "./harness.ts";

test("serve --port 0: the session names the real port", async () => {
  using volume = await makeVolume();
  await using serve = await spawnServe(volume);
  expect(serve.port).toBeGreaterThan(0);
  const r = await jfs(["status", volume.metaUrl, "--json"], { HOME: volume.home });
  expect(r.code).toBe(0);
  const sessions = JSON.parse(r.stdout).sessions as Array<{ pid: number; mountPoint: string }>;
  expect(sessions.map((s) => s.mountPoint)).toEqual([`nfs://127.0.0.1:${serve.port}/`]);
  expect(sessions[0]!.pid).toBe(serve.proc.pid);
});
