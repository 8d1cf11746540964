/**
 * Session expiry follows the Redis server's clock, not the hosts': a node whose wall clock runs
 * ten minutes ahead must not expire a live session, and a node whose clock runs ten minutes
 * behind must not look dead to the others. (bun:test's setSystemTime moves Date.now() of this
 * process only; redis-server keeps the real time.)
 */
import { afterAll, afterEach, beforeAll, expect, setSystemTime, test } from "bun:test";
import { formatted, type MetaBackend, redisBackend } from "./harness.ts";

const SKEW_MS = 10 * 60_000;
const info = { hostname: "test", pid: 1, version: "test", mountPoint: "" };

let backend: MetaBackend;
beforeAll(async () => {
  backend = await redisBackend();
});
afterAll(async () => {
  await backend.stop();
});
afterEach(() => {
  setSystemTime();
});

test("a host clock ten minutes ahead expires no live session", async () => {
  await backend.reset();
  const m = await formatted(backend);
  const other = await backend.open();
  await other.load();
  const sid = await m.newSession(info);
  await other.newSession(info);
  setSystemTime(new Date(Date.now() + SKEW_MS));
  await other.heartbeat();
  expect((await other.listSessions()).map((s) => s.sid)).toContain(sid);
});

test("a host clock ten minutes behind does not make its own session look dead", async () => {
  await backend.reset();
  const m = await formatted(backend);
  const other = await backend.open();
  await other.load();
  setSystemTime(new Date(Date.now() - SKEW_MS));
  const sid = await m.newSession(info);
  await m.heartbeat();
  setSystemTime();
  await other.newSession(info);
  await other.heartbeat();
  expect((await other.listSessions()).map((s) => s.sid)).toContain(sid);
  const s = (await other.listSessions()).find((x) => x.sid === sid)!;
  expect(Math.abs(s.heartbeatAt - Date.now())).toBeLessThan(SKEW_MS / 2);
});
