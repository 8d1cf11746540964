/**
 * Two `jfs serve --nfs` on one Redis volume, one stopped (SIGSTOP) past its --session-timeout:
 * the other expires its session; continued, it registers a new session at its next heartbeat
 * and serves on, its writes landing and read back whole through the other server.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { BaseMeta } from "../../src/meta/base.ts";
import { openEngine } from "../../src/meta/index.ts";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import { makeVolume, type ServeProcess, spawnServe, type TestVolume } from "./harness.ts";
import { NfsClient } from "./nfsclient.ts";

const WAIT_MS_MAX = 30_000;

let redis: RedisServer;
let volume: TestVolume;
let observer: BaseMeta;
const servers: ServeProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
  volume = await makeVolume({ metaUrl: redis.url(1) });
  observer = new BaseMeta(await openEngine(volume.metaUrl));
});

afterAll(async () => {
  for (const s of servers) {
    s.proc.kill("SIGCONT");
    await s.stop("SIGKILL");
  }
  await observer?.close();
  volume?.[Symbol.dispose]();
  await redis?.stop();
});

/** Sessions of `pid` as stored (the observer has no session and expires nobody). */
const sessionsOf = async (pid: number) =>
  (await observer.listSessions()).filter((s) => s.pid === pid);

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS_MAX;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

test("a server stopped past its timeout is expired, then registers again and serves on", async () => {
  const a = await spawnServe(volume, ["--session-timeout", "1"]);
  servers.push(a);
  const b = await spawnServe(volume, ["--session-timeout", "2"]);
  servers.push(b);
  const [before] = await sessionsOf(a.proc.pid);
  expect(before?.timeoutMs).toBe(1000);

  a.proc.kill("SIGSTOP");
  await until("B to expire A", async () => (await sessionsOf(a.proc.pid)).length === 0);
  a.proc.kill("SIGCONT");
  await until("A to register again", async () => (await sessionsOf(a.proc.pid)).length === 1);
  const [after] = await sessionsOf(a.proc.pid);
  expect(after!.sid).not.toBe(before!.sid);
  expect(a.stderr() + a.stdout()).toContain(`session ${before!.sid} was expired by another node`);

  await using viaA = await NfsClient.connect(a.port);
  await using viaB = await NfsClient.connect(b.port);
  const data = crypto.getRandomValues(new Uint8Array(100_000));
  const fh = await viaA.writeFile(await viaA.mount("/"), "after-stall", data);
  expect((await viaB.readFile(fh)).equals(Buffer.from(data))).toBe(true);
  expect((await sessionsOf(a.proc.pid)).map((s) => s.sid)).toEqual([after!.sid]);
});
