/**
 * The PostgreSQL engine as a storage adapter, against a real server (its own cluster in a temp
 * dir): conflicts retry to the exact result, a restarted server loses nothing, and bad input
 * (a wrong password, a host that refuses or does not answer, a database that is not ours)
 * fails in one line without showing the password. POSIX behaviour is the conformance suite's.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { UserError } from "../../src/errors.ts";
import { ROOT_INODE } from "../../src/limits.ts";
import { BaseMeta } from "../../src/meta/base.ts";
import { checkNamespace } from "../../src/meta/check.ts";
import { openEngine } from "../../src/meta/index.ts";
import { ROOT_CREDENTIALS as ctx, FileType } from "../../src/meta/interface.ts";
import { foldWrites } from "../../src/meta/postgres/txn.ts";
import { PostgresEngine, parsePostgresUrl } from "../../src/meta/postgres.ts";
import { type PostgresServer, startPostgres } from "../harness/postgres.ts";
import { freePort } from "../harness/redis.ts";
import { testFormat } from "./harness.ts";

let pg: PostgresServer;
let n = 0;

beforeAll(async () => {
  pg = await startPostgres();
});

afterAll(async () => {
  await pg.stop();
});

/** A fresh database on the server, formatted as a volume. */
async function volume(): Promise<{ url: string; meta: BaseMeta }> {
  const url = await pg.createDatabase(`v${n++}`);
  const meta = new BaseMeta(await openEngine(url));
  await meta.format(testFormat(), false);
  return { url, meta };
}

const names = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => Buffer.from(`${prefix}${i}`));

describe("transactions", () => {
  test("64 concurrent creates in one directory from two engines all land, counted exactly", async () => {
    const { url, meta } = await volume();
    const other = new BaseMeta(await openEngine(url));
    await other.load();
    try {
      const dir = (await meta.mkdir(ctx, ROOT_INODE, Buffer.from("d"), 0o755, 0)).inode;
      await Promise.all(
        names("f", 64).map((name, i) =>
          (i % 2 ? meta : other).mknod(ctx, dir, name, FileType.File, 0o644, 0, 0),
        ),
      );
      const entries = await meta.readdir(ctx, dir, 0, 1000, false);
      expect(entries.map((e) => e.name.toString()).sort()).toEqual(
        names("f", 64).map(String).sort(),
      );
      const report = await checkNamespace(meta);
      expect(report.problems).toEqual([]);
      expect(report.usedInodesCounter).toBe(report.inodes);
    } finally {
      await other.close();
      await meta.close();
    }
  });

  test("incrCounter from two engines at once hands out disjoint ranges", async () => {
    const url = await pg.createDatabase(`v${n++}`);
    const a = await PostgresEngine.open(url);
    const b = await PostgresEngine.open(url);
    try {
      const ends = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).incrCounter("nextInode", 10)),
      );
      expect(new Set(ends).size).toBe(40);
      expect(Math.max(...ends)).toBe(400);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("writes folded into one statement", () => {
  test("foldWrites: distinct rows share a statement; a repeated row or a many-row write starts another", () => {
    const w = (sql: string, params: unknown[], row?: string) => ({
      statement: [sql, params] as [string, unknown[]],
      row,
    });
    const out = foldWrites([
      w("INSERT INTO a VALUES ($1, $2)", [1, 2], "a1"),
      w("UPDATE b SET v = $2 WHERE k = $1", [3, 4], "b3"),
      w("INSERT INTO a VALUES ($1, $2)", [1, 5], "a1"),
      w("DELETE FROM c WHERE inode = $1", [6]),
      w("INSERT INTO c VALUES ($1)", [7], "c7"),
    ]);
    expect(out).toEqual([
      ["WITH w0 AS (INSERT INTO a VALUES ($1, $2)) UPDATE b SET v = $4 WHERE k = $3", [1, 2, 3, 4]],
      ["INSERT INTO a VALUES ($1, $2)", [1, 5]],
      ["DELETE FROM c WHERE inode = $1", [6]],
      ["INSERT INTO c VALUES ($1)", [7]],
    ]);
  });

  test("one transaction writing a row twice, and rows a many-row delete removes, ends as written in order", async () => {
    const { meta } = await volume();
    const engine = meta.core.engine;
    const f = await meta.mknod(ctx, ROOT_INODE, Buffer.from("f"), FileType.File, 0o644, 0, 0);
    const slice = (id: number) => ({ id, size: 10, off: 0, len: 10, pos: id * 10 });
    await engine.txn(async (tx) => {
      tx.setAttr(f.inode, { ...f.attr, mode: 0o100600 });
      tx.appendSlice(f.inode, 0, slice(1));
      tx.setXattr(f.inode, "user.a", Buffer.from("1"));
      tx.setAttr(f.inode, { ...f.attr, mode: 0o100640, size: 30 });
      tx.appendSlice(f.inode, 0, slice(2));
      tx.deleteXattrs(f.inode);
      tx.setXattr(f.inode, "user.b", Buffer.from("2"));
      tx.appendSlice(f.inode, 0, slice(3));
    });
    const attr = await meta.getattr(ctx, f.inode);
    expect([attr.mode & 0o7777, attr.size]).toEqual([0o640, 30]);
    expect((await meta.readChunk(f.inode, 0)).map((s) => s.id)).toEqual([1, 2, 3]);
    expect(await meta.listxattr(ctx, f.inode)).toEqual(["user.b"]);
    await meta.close();
  });
});

describe("server restart under a live client", () => {
  for (const signal of ["SIGINT", "SIGQUIT"] as const) {
    test(`${signal === "SIGINT" ? "fast shutdown" : "crash (immediate shutdown)"}: every acknowledged create survives, and the client goes on`, async () => {
      const { meta } = await volume();
      try {
        const dir = (await meta.mkdir(ctx, ROOT_INODE, Buffer.from("d"), 0o755, 0)).inode;
        const created: string[] = [];
        const failed: string[] = [];
        let restarted = false;
        const writer = (async () => {
          for (let i = 0; !restarted || i < 400; i++) {
            const name = `f${i}`;
            try {
              await meta.mknod(ctx, dir, Buffer.from(name), FileType.File, 0o644, 0, 0);
              created.push(name);
            } catch (error: unknown) {
              failed.push(`${name}: ${String(error)}`);
            }
            if (i > 5000) break;
          }
        })();
        while (created.length < 100) await Bun.sleep(5);
        await pg.restart(signal, 300);
        restarted = true;
        await writer;
        // Only a create whose COMMIT was in flight when the server went may fail (EIO: its
        // outcome is unknown); everything before and after the outage went through.
        expect(failed.length).toBeLessThanOrEqual(2);
        for (const f of failed) expect(f).toContain("EIO");
        const listed = new Set(
          (await meta.readdir(ctx, dir, 0, 10_000, false)).map((e) => e.name.toString()),
        );
        for (const name of created) expect(listed.has(name)).toBe(true);
        expect(created.length).toBeGreaterThanOrEqual(390);
        expect((await checkNamespace(meta)).problems).toEqual([]);
      } finally {
        await meta.close();
      }
    });
  }
});

describe("sslmode", () => {
  test("a server that takes TLS only: require connects, disable is refused, verify-full distrusts a self-signed certificate", async () => {
    await using tls = await startPostgres({ tls: true });
    const url = await tls.createDatabase("tlsvol");
    const require = await PostgresEngine.open(`${url}?sslmode=require`);
    await require.txn(async (tx) => tx.setSetting("{}"));
    await require.close();
    // No sslmode is libpq's "prefer": TLS when the server offers it.
    const prefer = await PostgresEngine.open(url);
    expect(await prefer.txn(async (tx) => tx.getSetting(), { readOnly: true })).toBe("{}");
    await prefer.close();
    await expect(PostgresEngine.open(`${url}?sslmode=disable`)).rejects.toThrow(
      /^Cannot connect to postgres:\/\/jfs:\*\*\*\*@127\.0\.0\.1:\d+\/tlsvol\?sslmode=disable: no pg_hba\.conf entry .*no encryption/,
    );
    const verify = PostgresEngine.open(`${url}?sslmode=verify-full`);
    await expect(verify).rejects.toThrow(/certificate/i);
  }, 60_000);
});

describe("bad input: one line, no password", () => {
  test("a wrong password", async () => {
    const url = pg.url("postgres", "not-the-password");
    const failed = PostgresEngine.open(url);
    await expect(failed).rejects.toThrow(
      new UserError(
        `Cannot connect to postgres://jfs:****@127.0.0.1:${pg.port}/postgres: authentication failed for user "jfs" (check the password in the META-URL or META_PASSWORD)`,
      ),
    );
    await expect(PostgresEngine.open(url)).rejects.not.toThrow("not-the-password");
  });

  test("the password from META_PASSWORD when the URL has none", async () => {
    const db = await pg.createDatabase(`v${n++}`);
    const bare = db.replace(`:${encodeURIComponent(pg.password)}@`, "@");
    expect(bare).not.toContain(pg.password);
    const parsed = parsePostgresUrl(bare, { META_PASSWORD: pg.password });
    expect(parsed.options.password).toBe(pg.password);
    const previous = process.env.META_PASSWORD;
    process.env.META_PASSWORD = pg.password;
    try {
      const engine = await PostgresEngine.open(bare);
      await engine.close();
    } finally {
      if (previous === undefined) delete process.env.META_PASSWORD;
      else process.env.META_PASSWORD = previous;
    }
  });

  test("a port where nothing listens", async () => {
    const port = await freePort();
    const failed = PostgresEngine.open(`postgres://jfs:secret@127.0.0.1:${port}/db`);
    await expect(failed).rejects.toThrow(
      new UserError(
        `Cannot connect to postgres://jfs:****@127.0.0.1:${port}/db: connection refused`,
      ),
    );
  });

  test("a host that accepts the connection and never answers", async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      const started = Date.now();
      const failed = PostgresEngine.open(`postgres://jfs:secret@127.0.0.1:${port}/db`);
      await expect(failed).rejects.toThrow(
        `Cannot connect to postgres://jfs:****@127.0.0.1:${port}/db: no answer from the server`,
      );
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  }, 30_000);

  test("a database the server does not have", async () => {
    const failed = PostgresEngine.open(pg.url("nonexistent"));
    await expect(failed).rejects.toThrow('database "nonexistent" does not exist');
  });

  test("a database holding another application's tables is refused, and left as it was", async () => {
    const url = await pg.createDatabase(`v${n++}`);
    await pg.query(`v${n - 1}`, "CREATE TABLE orders (id int); INSERT INTO orders VALUES (7)");
    await expect(openEngine(url)).rejects.toThrow(
      `(database "v${n - 1}"): it holds other tables (orders); give jfs a database of its own`,
    );
    // Nothing was created next to them.
    const engine = openEngine(url, { create: false });
    await expect(engine).rejects.toThrow("not formatted (run jfs format)");
  });

  test("a database holding another volume: format refuses, mount opens that volume", async () => {
    const { url, meta } = await volume();
    await meta.close();
    const again = new BaseMeta(await openEngine(url));
    try {
      await expect(again.format(testFormat({ name: "other" }), false)).rejects.toThrow(
        'already holds volume "test"',
      );
      await again.load();
      expect(again.core.format.name).toBe("test");
    } finally {
      await again.close();
    }
  });

  test("destroy empties the volume's tables: the database is then 'not formatted'", async () => {
    const { url, meta } = await volume();
    await meta.mkdir(ctx, ROOT_INODE, Buffer.from("d"), 0o755, 0);
    await meta.destroy();
    await meta.close();
    const again = new BaseMeta(await openEngine(url, { create: false }));
    try {
      await expect(again.load()).rejects.toThrow("not formatted");
    } finally {
      await again.close();
    }
  });

  test("an unformatted database is 'not formatted' for status and mount", async () => {
    const url = await pg.createDatabase(`v${n++}`);
    await expect(openEngine(url, { create: false })).rejects.toThrow(
      "not formatted (run jfs format)",
    );
  });

  test.each([
    ["postgres://", "no host"],
    ["postgres://host", "name one database"],
    ["postgres://u:secret@host/db?sslmode=sometimes", "sslmode must be one of"],
    ["postgres://u:secret@host/db?timeout=3", 'unknown option "timeout"'],
  ])("%s is refused: %s", (url, why) => {
    let error: unknown;
    try {
      parsePostgresUrl(url);
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain(why);
    expect((error as Error).message).not.toContain("secret");
  });

  test("display masks the password and fills the default port", () => {
    expect(parsePostgresUrl("postgresql://bob:p%40ss@db.example/vol").display).toBe(
      "postgresql://bob:****@db.example:5432/vol",
    );
    const parsed = parsePostgresUrl("postgres://bob:p%40ss@[::1]:6543/vol?sslmode=require");
    expect(parsed.options).toMatchObject({
      hostname: "::1",
      port: 6543,
      username: "bob",
      password: "p@ss",
      database: "vol",
      tls: "require",
    });
  });
});
