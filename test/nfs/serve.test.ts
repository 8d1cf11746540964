/**
 * `jfs serve --nfs` as a user runs it: a child process on a temp volume. Its ready line, flag
 * errors, the write verifier across restarts (clients resend what was not committed), handles
 * that outlive the server, SIGTERM flushing buffered writes, and COMMITted data surviving a
 * client that vanishes and a server that is killed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { StableHow } from "../../nfs/nfs3/constants.ts";
import { jfs } from "../cli/harness.ts";
import { makeVolume, spawnServe, type TestVolume } from "./harness.ts";
import { NfsClient, ok } from "./nfsclient.ts";
import { closedAtConnect, settlesWithin } from "./rpcclient.ts";

let volume: TestVolume;

beforeAll(async () => {
  volume = await makeVolume();
});

afterAll(() => volume[Symbol.dispose]());

describe("jfs serve --nfs", () => {
  test("prints one ready line, then the mount commands", async () => {
    await using serve = await spawnServe(volume, ["--export", "/"]);
    const lines = serve.stdout().split("\n");
    const ready = lines.filter((line) => line.startsWith("nfs: serving"));
    expect(ready).toEqual([`nfs: serving ${volume.name} on 127.0.0.1:${serve.port}`]);
    const p = serve.port;
    expect(serve.stdout()).toContain(
      `mount -t nfs -o vers=3,tcp,port=${p},mountport=${p},nolock,nosuid,nodev 127.0.0.1:/ DIR`,
    );
    expect(serve.stdout()).toContain(
      `mount -t nfs -o vers=3,tcp,port=${p},mountport=${p},nolocks,locallocks,resvport,nosuid,nodev 127.0.0.1:/ DIR`,
    );
    expect(await serve.stop("SIGINT")).toBe(0);
  });

  test("bad flags are one-line errors, before anything is opened", async () => {
    const run = (args: string[]) => jfs(["serve", ...args, volume.metaUrl], { HOME: volume.home });
    const cases: [string[], RegExp][] = [
      [[], /needs a protocol: --nfs/],
      [["--nfs", "--squash", "some"], /--squash must be one of none, root, all/],
      [["--nfs", "--allow", "10.0.0.0/40"], /--allow: "10.0.0.0\/40"/],
      [["--nfs", "--port", "70000"], /--port must be an integer 0..65535/],
      [["--nfs", "--s3", "nohost"], /--s3 nohost: expected HOST:PORT/],
      [["--nfs", "--s3", "127.0.0.1:0", "--read-only"], /cannot be combined with --read-only/],
      [["--nfs", "--s3", "127.0.0.1:0", "--export", "/x"], /or --export/],
      [["--nfs", "--anonuid", "x"], /--anonuid must be an integer/],
      [["--nfs", "--port", "0", "--export", "/missing"], /--export \/missing: ENOENT/],
      [["--nfs", "--allow", ","], /--allow needs at least one IP address or CIDR/],
      [["--nfs", "--allow", " , "], /--allow needs at least one IP address or CIDR/],
      // cac reads "" and " " as the number 0; either way it is refused, never "everyone".
      [["--nfs", "--allow", ""], /--allow/],
      [["--nfs", "--allow", " "], /--allow/],
      [["--nfs", "--idle-timeout", "1.5"], /--idle-timeout must be an integer 0..86400/],
      [["--nfs", "--idle-timeout", "x"], /--idle-timeout must be an integer/],
      [
        ["--nfs", "--verify-cache-checksum", "full"],
        /--verify-cache-checksum must be one of extend, none/,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await run(args);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
    // Sixteen CLI starts in a row: the default 5 s is too short on a loaded 2-core machine.
  }, 60_000);

  test("a port in use is a clear error", async () => {
    await using first = await spawnServe(volume);
    const result = await jfs(
      ["serve", "--nfs", "--port", String(first.port), "--cache-dir", "memory", volume.metaUrl],
      { HOME: volume.home },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`Cannot serve NFS on 127.0.0.1:${first.port}`));
  });
});

describe("connections", () => {
  test("an address outside --allow is closed when it connects", async () => {
    await using serve = await spawnServe(volume, ["--allow", "10.0.0.0/8"]);
    expect(await closedAtConnect(serve.port, 10_000)).toBe(true);
  });

  test("--idle-timeout closes a connection with nothing in flight", async () => {
    await using serve = await spawnServe(volume, ["--idle-timeout", "1"]);
    await using client = await NfsClient.connect(serve.port);
    await client.mount("/");
    const startedMs = performance.now();
    expect(await settlesWithin(client.rpc.closed, 20_000)).toBe(true);
    // Closed by the server after about a second (the sweep runs every quarter).
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(900);
  });
});

describe("restarts", () => {
  test("the write verifier changes across a restart; handles stay valid", async () => {
    let first = await spawnServe(volume);
    let handle: Buffer;
    let verifier: Buffer;
    {
      await using client = await NfsClient.connect(first.port);
      const root = await client.mount("/");
      handle = await client.writeFile(root, "verf", Buffer.from("committed"));
      const write = ok(await client.write(handle, 9, Buffer.from("+more")));
      verifier = write.verf;
      expect(ok(await client.commit(handle)).verf.equals(verifier)).toBe(true);
    }
    expect(await first.stop("SIGTERM")).toBe(0);
    first = await spawnServe(volume);
    try {
      await using client = await NfsClient.connect(first.port);
      // The old handle works without a new MOUNT or LOOKUP.
      expect((await client.readFile(handle)).toString()).toBe("committed+more");
      const commit = ok(await client.commit(handle));
      expect(commit.verf.equals(verifier)).toBe(false);
      const write = ok(await client.write(handle, 0, Buffer.from("C")));
      expect(write.verf.equals(commit.verf)).toBe(true);
    } finally {
      await first.stop();
    }
  });

  test("SIGTERM flushes writes that were never committed", async () => {
    const serve = await spawnServe(volume);
    let handle: Buffer;
    const data = crypto.getRandomValues(new Uint8Array(3 << 20));
    {
      await using client = await NfsClient.connect(serve.port);
      const root = await client.mount("/");
      handle = await client.writeFile(root, "unstable", Buffer.alloc(0));
      for (let offset = 0; offset < data.byteLength; offset += 1 << 20) {
        const res = ok(
          await client.write(handle, offset, data.subarray(offset, offset + (1 << 20))),
        );
        expect(res.committed).toBe(StableHow.UNSTABLE);
      }
    }
    expect(await serve.stop("SIGTERM")).toBe(0);
    await using again = await spawnServe(volume);
    await using client = await NfsClient.connect(again.port);
    expect((await client.readFile(handle)).equals(Buffer.from(data))).toBe(true);
  });

  test("COMMITted data survives a vanished client and a killed server", async () => {
    const serve = await spawnServe(volume);
    const data = crypto.getRandomValues(new Uint8Array((2 << 20) + 123));
    const client = await NfsClient.connect(serve.port);
    const root = await client.mount("/");
    const handle = await client.writeFile(root, "committed", data);
    client.rpc.terminate();
    expect(await serve.stop("SIGKILL")).not.toBe(0);
    await using again = await spawnServe(volume);
    await using reader = await NfsClient.connect(again.port);
    expect((await reader.readFile(handle)).equals(Buffer.from(data))).toBe(true);
  });
});
