/**
 * `jfs serve --nfs` and its lock flags, as a user runs them: --portmap-port (a PORTMAP-only
 * listener answering the NFS port, as a client's lockd needs on port 111), --lock-grace and
 * --lock-state (the hosts holding locks, told to reclaim after a restart), their errors, and
 * the mount lines the ready text prints with and without locks.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { NLM_PROG, NLM_V4, Nlm4Stat, NlmProc } from "../../nfs/nlm/constants.ts";
import { readRes, writeLockArgs } from "../../nfs/nlm/types.ts";
import { PMAP_PROG, PMAP_VERS, PmapProc } from "../../nfs/portmap/portmap.ts";
import { IPPROTO_TCP } from "../../nfs/rpc/constants.ts";
import type { NfsServer } from "../../nfs/server.ts";
import { XdrWriter } from "../../nfs/xdr/writer.ts";
import { readyText } from "../../src/cli/serve.ts";
import { jfs } from "../cli/harness.ts";
import { makeVolume, spawnServe, type TestVolume } from "./harness.ts";
import { NfsClient } from "./nfsclient.ts";
import { RpcClient } from "./rpcclient.ts";

let volume: TestVolume;

beforeAll(async () => {
  volume = await makeVolume();
});

afterAll(() => volume[Symbol.dispose]());

/** A free port: bound, read back, released. */
function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

test("bad lock flags are one-line errors", async () => {
  const cases: [string[], RegExp][] = [
    [["--portmap-port", "70000"], /--portmap-port must be an integer 0..65535/],
    [["--lock-grace", "x"], /--lock-grace must be an integer/],
    [["--lock-grace", "99999"], /--lock-grace must be an integer 0..3600/],
  ];
  for (const [args, message] of cases) {
    const result = await jfs(["serve", "--nfs", ...args, volume.metaUrl], { HOME: volume.home });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  }
});

test("a --portmap-port in use is a clear error", async () => {
  const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const result = await jfs(
      ["serve", "--nfs", "--port", "0", "--portmap-port", String(taken.port), volume.metaUrl],
      { HOME: volume.home },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `Cannot serve PORTMAP on port ${taken.port} (--portmap-port): address already in use`,
    );
  } finally {
    taken.stop(true);
  }
});

test("--portmap-port answers the NFS port for NLM; --lock-state lists the hosts holding locks", async () => {
  const portmapPort = freePort();
  const statePath = join(volume.dir, "state", "hosts.json");
  await using serve = await spawnServe(volume, [
    "--portmap-port",
    String(portmapPort),
    "--lock-grace",
    "0",
    "--lock-state",
    statePath,
  ]);
  // Not 111: the ready text keeps nolock and says how to get locks.
  expect(serve.stdout()).toContain(`port=${serve.port},mountport=${serve.port},nolock,`);
  expect(serve.stdout()).toContain("add --portmap-port 111");
  await using pm = await RpcClient.connect(portmapPort);
  const mapping = new XdrWriter().uint32(NLM_PROG).uint32(NLM_V4).uint32(IPPROTO_TCP).uint32(0);
  const body = await pm.callOk(PMAP_PROG, PMAP_VERS, PmapProc.GETPORT, mapping);
  expect(body.uint32()).toBe(serve.port);

  await using nfs = await NfsClient.connect(serve.port);
  const fh = await nfs.writeFile(await nfs.mount("/"), "f", new Uint8Array(1));
  const lock = { callerName: "host-x", fh, oh: Buffer.from("o"), svid: 3, offset: 0n, len: 0n };
  const w = new XdrWriter();
  writeLockArgs(w, {
    cookie: Buffer.alloc(0),
    block: false,
    exclusive: true,
    lock,
    reclaim: false,
    state: 1,
  });
  const auth = { authSys: { stamp: 1, machineName: "x", uid: 0, gid: 0, groups: [] } };
  const res = readRes(await nfs.rpc.callOk(NLM_PROG, NLM_V4, NlmProc.LOCK, w, auth));
  expect(res.stat).toBe(Nlm4Stat.GRANTED);
  const deadline = Date.now() + 5000;
  while (!existsSync(statePath) && Date.now() < deadline) await Bun.sleep(20);
  expect(JSON.parse(readFileSync(statePath, "utf8"))).toEqual([
    { name: "host-x", address: "127.0.0.1" },
  ]);
  expect(await serve.stop("SIGINT")).toBe(0);
});

test("with PORTMAP on 111 the mount lines have locks on", () => {
  const server = { hostname: "127.0.0.1", port: 2049, portmapPort: 111 } as NfsServer;
  const text = readyText("vol", server, "/");
  expect(text).toContain(
    "Linux: mount -t nfs -o vers=3,tcp,port=2049,mountport=2049,nosuid,nodev 127.0.0.1:/ DIR",
  );
  expect(text).toContain(
    "macOS: mount -t nfs -o vers=3,tcp,port=2049,mountport=2049,resvport,nosuid,nodev 127.0.0.1:/ DIR",
  );
  expect(text).not.toContain("nolock");
  expect(text).not.toContain("--portmap-port");
});
