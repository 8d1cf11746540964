/**
 * Locks through FUSE across nodes: two `jfs mount`s of one volume (on SQLite, and on Redis) are
 * two nodes; python3's fcntl module takes fcntl (lockf) and flock locks on each. The second
 * node gets EAGAIN, F_GETLK there reports the holder's pid, a blocking wait is granted when the
 * holder releases (within the poll bound), three blocking waits on both nodes are granted in
 * arrival order, a signal interrupts a wait (FUSE INTERRUPT → EINTR),
 * and a holder killed with SIGKILL releases its lock (the kernel's flush/release on exit), or,
 * when its whole node dies, at session expiry. SQLite (Debian's sqlite3) then takes concurrent
 * inserts from both mounts and passes PRAGMA integrity_check.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  jfs,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

const PYTHON = "/usr/bin/python3";
const LOCKER = join(import.meta.dir, "locker.py");
const HAVE_PYTHON = Bun.which(PYTHON) !== null;
/** Far above the poll bound (LOCK_POLL_MS_MAX): a wait granted later than this is a bug. */
const GRANT_WAIT_MS = 10_000;
/** Three waiters started 0.7 s apart, then granted one by one: allow for a loaded machine. */
const QUEUE_TEST_MS = 30_000;

const SQLITE3 = "/usr/bin/sqlite3";
const HAVE_SQLITE = Bun.which(SQLITE3) !== null;
/** Inserts per mount, each its own transaction: enough to interleave many times. */
const SQLITE_INSERTS = 60;
/** Each commit is several lock round trips and fsyncs through both mounts: allow a minute. */
const SQLITE_TEST_MS = 60_000;
/**
 * Short sessions beat often: b notices a dead node's session within a second or two. No kernel
 * name or attribute caching: SQLite looks for its journal by name on every transaction.
 */
const MOUNT_FLAGS = ["--session-timeout", "2", "--entry-cache", "0", "--attr-cache", "0"];

/** Runs the sqlite3 CLI (rollback journal: WAL's shared memory cannot span nodes). */
async function sqlite(path: string, script: string) {
  const proc = Bun.spawn([SQLITE3, "-batch", path], {
    stdin: new TextEncoder().encode(script),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

type Kind = "fcntl" | "flock";

/** A locker.py process whose stdout is read line by line. */
class Locker {
  readonly proc;
  readonly #lines: string[] = [];
  #waiters: Array<() => void> = [];
  #ended = false;

  constructor(args: string[]) {
    this.proc = Bun.spawn([PYTHON, LOCKER, ...args], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    void this.#read();
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of this.proc.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl = buffered.indexOf("\n");
      while (nl >= 0) {
        this.#lines.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf("\n");
      }
      for (const w of this.#waiters.splice(0)) w();
    }
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The next line, or undefined if none comes within `timeoutMs` (or the output ended). */
  async line(timeoutMs = GRANT_WAIT_MS): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0 && !this.#ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadline - Date.now());
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.#lines.shift();
  }

  release(): void {
    this.proc.stdin.write("\n");
    this.proc.stdin.flush();
  }
}

async function once(args: string[]): Promise<string | undefined> {
  const l = new Locker(args);
  const line = await l.line();
  await l.proc.exited;
  return line;
}

function lockCases(name: string, makeVolumes: () => Promise<[TestVolume, TestVolume, () => void]>) {
  describe.skipIf(!HAVE_FUSE || !HAVE_PYTHON)(`locks across two mounts on ${name}`, () => {
    let root: string;
    let a: Mounted;
    let b: Mounted;
    let cleanup: () => void = () => undefined;
    let volume: TestVolume;
    const pa = (f: string) => join(a.dir, f);
    const pb = (f: string) => join(b.dir, f);

    beforeAll(async () => {
      const [va, vb, done] = await makeVolumes();
      cleanup = done;
      root = mkdtempSync(join(tmpdir(), "jfs-locks-"));
      a = await startMount(va, join(root, "a"), MOUNT_FLAGS);
      b = await startMount(vb, join(root, "b"), MOUNT_FLAGS);
      volume = va;
    });

    afterAll(async () => {
      await stopMount(a).catch(() => forceCleanup(a));
      await stopMount(b).catch(() => forceCleanup(b));
      rmSync(root, { recursive: true, force: true });
      cleanup();
    });

    for (const kind of ["fcntl", "flock"] as Kind[]) {
      test(`${kind}: the other node gets EAGAIN; a blocking wait is granted on release`, async () => {
        const file = `${kind}-contended`;
        writeFileSync(pa(file), "x");
        const holder = new Locker(["hold", pa(file), kind]);
        const held = await holder.line();
        expect(held).toMatch(/^held \d+$/);
        expect(await once(["try", pb(file), kind])).toBe("EAGAIN");
        if (kind === "fcntl") {
          expect(await once(["getlk", pb(file)])).toBe(`w ${held!.split(" ")[1]}`);
        }
        const waiter = new Locker(["wait", pb(file), kind]);
        expect(await waiter.line()).toBe("waiting");
        expect(await waiter.line(500)).toBeUndefined(); // still held
        holder.release();
        expect(await holder.proc.exited).toBe(0);
        expect(await waiter.line()).toBe("granted");
        expect(await waiter.proc.exited).toBe(0);
        // Both gone: the lock is free on either node.
        expect(await once(["try", pa(file), kind])).toBe("granted");
      });

      test(
        `${kind}: three blocking waits on two nodes are granted in arrival order`,
        async () => {
          const file = `${kind}-queue`;
          writeFileSync(pa(file), "x");
          const holder = new Locker(["hold", pa(file), kind]);
          expect(await holder.line()).toMatch(/^held \d+$/);
          // b, a, b: the holder's own node must not favour its local waiter.
          const waiters: Locker[] = [];
          for (const path of [pb(file), pa(file), pb(file)]) {
            const w = new Locker(["queue", path, kind]);
            expect(await w.line()).toBe("waiting");
            // Its request reaches the engine before the next one starts (a loaded machine is slow).
            await Bun.sleep(700);
            waiters.push(w);
          }
          let previous = holder;
          for (const w of waiters) {
            previous.release();
            expect(await previous.proc.exited).toBe(0);
            expect(await w.line()).toBe("granted");
            // Nobody behind it got the lock too.
            for (const later of waiters.slice(waiters.indexOf(w) + 1)) {
              expect(await later.line(100)).toBeUndefined();
            }
            previous = w;
          }
          previous.release();
          expect(await previous.proc.exited).toBe(0);
        },
        QUEUE_TEST_MS,
      );

      test(`${kind}: a holder killed with SIGKILL releases its lock`, async () => {
        const file = `${kind}-killed`;
        writeFileSync(pa(file), "x");
        const holder = new Locker(["hold", pa(file), kind]);
        expect(await holder.line()).toMatch(/^held \d+$/);
        expect(await once(["try", pb(file), kind])).toBe("EAGAIN");
        holder.proc.kill("SIGKILL");
        await holder.proc.exited;
        expect(await once(["try", pb(file), kind])).toBe("granted");
      });
    }

    test(
      "a node that dies holding a lock frees it when its session expires",
      async () => {
        const file = "dead-node";
        writeFileSync(pa(file), "x");
        const c = await startMount(
          { ...volume, cacheDir: join(root, "cache-c") },
          join(root, "c"),
          ["--session-timeout", "1"],
        );
        const holder = new Locker(["hold", join(c.dir, file), "fcntl"]);
        try {
          expect(await holder.line()).toMatch(/^held \d+$/);
          c.proc.kill("SIGKILL"); // the node dies; its kernel never sends the flush
          await c.proc.exited;
          expect(await once(["try", pb(file), "fcntl"])).toBe("EAGAIN");
          const deadline = Date.now() + GRANT_WAIT_MS;
          while ((await once(["try", pb(file), "fcntl"])) !== "granted") {
            expect(Date.now()).toBeLessThan(deadline);
            await Bun.sleep(200);
          }
        } finally {
          holder.proc.kill("SIGKILL");
          await holder.proc.exited;
          await forceCleanup(c);
        }
      },
      3 * GRANT_WAIT_MS,
    );

    test.skipIf(!HAVE_SQLITE)(
      "SQLite takes concurrent inserts from both mounts, uncorrupted",
      async () => {
        const db = "shared.db";
        const setup = await sqlite(pa(db), "CREATE TABLE t (node TEXT, i INTEGER, pad TEXT);");
        expect(setup.code).toBe(0);
        const inserts = (node: string) => {
          let script = ".timeout 20000\n";
          for (let i = 0; i < SQLITE_INSERTS; i++) {
            script += `BEGIN IMMEDIATE; INSERT INTO t VALUES ('${node}', ${i}, randomblob(3000)); COMMIT;\n`;
          }
          return script;
        };
        const [ra, rb] = await Promise.all([
          sqlite(pa(db), inserts("a")),
          sqlite(pb(db), inserts("b")),
        ]);
        expect(ra.stderr).toBe("");
        expect(rb.stderr).toBe("");
        const check = await sqlite(
          pb(db),
          "PRAGMA integrity_check; SELECT node, count(*) FROM t GROUP BY node ORDER BY node;",
        );
        expect(check.stdout.trim().split("\n")).toEqual([
          "ok",
          `a|${SQLITE_INSERTS}`,
          `b|${SQLITE_INSERTS}`,
        ]);
        const again = await sqlite(pa(db), "PRAGMA integrity_check; SELECT count(*) FROM t;");
        expect(again.stdout.trim().split("\n")).toEqual(["ok", `${2 * SQLITE_INSERTS}`]);
      },
      SQLITE_TEST_MS,
    );

    test("a signal interrupts a blocking wait (INTERRUPT → EINTR)", async () => {
      const file = "interrupted";
      writeFileSync(pa(file), "x");
      const holder = new Locker(["hold", pa(file), "fcntl"]);
      expect(await holder.line()).toMatch(/^held \d+$/);
      const waiter = new Locker(["alarm", pb(file)]);
      expect(await waiter.line()).toBe("waiting");
      expect(await waiter.line()).toBe("interrupted");
      expect(await waiter.proc.exited).toBe(0);
      holder.release();
      await holder.proc.exited;
    });
  });
}

lockCases("SQLite", async () => {
  const v = await createVolume("locks");
  const other: TestVolume = { ...v, cacheDir: join(v.root, "cache-b") };
  return [v, other, () => v.cleanup()];
});

let redis: RedisServer | undefined;
lockCases("Redis", async () => {
  redis = await startRedis();
  const root = mkdtempSync(join(tmpdir(), "jfs-locks-redis-"));
  const metaUrl = redis.url(1);
  const r = await jfs(["format", metaUrl, "locks", "--bucket", join(root, "bucket")]);
  if (r.code !== 0) throw new Error(`jfs format failed: ${r.stderr}`);
  const vol = (name: string): TestVolume => ({
    root,
    metaUrl,
    cacheDir: join(root, `cache-${name}`),
    cleanup: () => undefined,
  });
  return [
    vol("a"),
    vol("b"),
    () => {
      void redis?.stop();
      rmSync(root, { recursive: true, force: true });
    },
  ];
});
