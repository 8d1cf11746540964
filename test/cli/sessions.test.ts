/**
 * The sessions of a node killed with kill -9: nobody else is live to expire them, so the
 * commands that read sessions must. `jfs status` shows each session's heartbeat age and
 * timeout and, once the heartbeat is older than the timeout, expires it; `jfs destroy` then
 * goes ahead instead of refusing with "1 live session(s)". The timeout is shortened with
 * `--session-timeout 1` (the default is 300 s).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { openMeta } from "../../src/meta/index.ts";
import { makeVolume, spawnServe, type TestVolume } from "../nfs/harness.ts";
import { jfs } from "./harness.ts";

const WAIT_MS_MAX = 30_000;

interface StatusJson {
  setting: { uuid: string };
  sessions: Array<{ sid: number; pid: number; timeoutMs: number; heartbeatAgeMs: number }>;
}

let volume: TestVolume;
beforeAll(async () => {
  volume = await makeVolume();
});
afterAll(() => volume[Symbol.dispose]());

const status = async (json: boolean) => {
  const r = await jfs(["status", ...(json ? ["--json"] : []), volume.metaUrl], {
    HOME: volume.home,
  });
  expect(r.code).toBe(0);
  return r;
};

test("kill -9 of a server: status shows the heartbeat age, then expires it; destroy proceeds", async () => {
  const serve = await spawnServe(volume, ["--session-timeout", "1"]);
  const pid = serve.proc.pid;
  const live = await status(false);
  expect(live.stdout).toMatch(/Sessions: +1\n/);
  expect(live.stdout).toMatch(
    new RegExp(`pid ${pid} nfs://\\S+, heartbeat \\d+ s ago \\(timeout 1 s\\), since \\d{4}-`),
  );
  const report = JSON.parse((await status(true)).stdout) as StatusJson;
  expect(report.sessions.map((s) => [s.pid, s.timeoutMs])).toEqual([[pid, 1000]]);
  expect(report.sessions[0]!.heartbeatAgeMs).toBeLessThan(WAIT_MS_MAX);
  const uuid = report.setting.uuid;
  const destroy = () => jfs(["destroy", volume.metaUrl, uuid, "--yes"], { HOME: volume.home });
  const refused = await destroy();
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain("1 live session(s)");

  expect(await serve.stop("SIGKILL")).not.toBe(0);
  const deadline = Date.now() + WAIT_MS_MAX;
  let expiredBy: string | undefined;
  for (;;) {
    const r = await status(false);
    if (r.stdout.includes("Sessions:    0")) {
      expiredBy = r.stdout;
      break;
    }
    expect(Date.now()).toBeLessThan(deadline);
    await Bun.sleep(100);
  }
  expect(expiredBy).toContain("Expired:     1 dead session(s) just now");
  const destroyed = await destroy();
  expect(destroyed.code).toBe(0);
});

test("destroy expires a dead session itself, without a status first", async () => {
  const again = await makeVolume();
  try {
    const serve = await spawnServe(again, ["--session-timeout", "1"]);
    const r = await jfs(["status", "--json", again.metaUrl], { HOME: again.home });
    const { uuid } = (JSON.parse(r.stdout) as StatusJson).setting;
    await serve.stop("SIGKILL");
    const deadline = Date.now() + WAIT_MS_MAX;
    for (;;) {
      const d = await jfs(["destroy", again.metaUrl, uuid, "--yes"], { HOME: again.home });
      if (d.code === 0) break;
      expect(d.stderr).toContain("1 live session(s)");
      expect(Date.now()).toBeLessThan(deadline);
      await Bun.sleep(100);
    }
  } finally {
    again[Symbol.dispose]();
  }
});

test("a session silent for 7 minutes (default timeout 5) is expired by status", async () => {
  const again = await makeVolume();
  try {
    const meta = await openMeta(again.metaUrl, { create: false });
    const info = { hostname: "gone", pid: 1, version: "x", mountPoint: "/mnt/gone" };
    const sid = await meta.newSession(info);
    await meta.core.txn(async (tx) => {
      const s = (await tx.getSession(sid))!;
      tx.setSession({ ...s, heartbeatAt: s.heartbeatAt - 7 * 60_000 });
    });
    await meta.close(); // as a kill -9 would: the session is never closed
    const r = await jfs(["status", again.metaUrl], { HOME: again.home });
    expect(r.stdout).toContain("Sessions:    0");
    expect(r.stdout).toContain("Expired:     1 dead session(s) just now");
  } finally {
    again[Symbol.dispose]();
  }
});

test("--session-timeout is checked before anything is opened", async () => {
  for (const bad of ["0", "x", "1.5", "100000"]) {
    const r = await jfs(["serve", "--nfs", "--session-timeout", bad, volume.metaUrl], {
      HOME: volume.home,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--session-timeout must be an integer 1\.\.86400/);
  }
});
