/**
 * Object-store failures on READ (issue 18 item 12): with s3rver refusing every request behind
 * the fault proxy, reads fail with EIO, and the log gets one line per object (naming it), not one
 * per read, and no stack trace.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import type { ConsolaReporter } from "consola";
import { FsError } from "../../src/errors.ts";
import { log } from "../../src/log.ts";
import { PrefixedObjectStore } from "../../src/object/prefix.ts";
import { S3ObjectStore } from "../../src/object/s3.ts";
import { Errno } from "../../src/posix.ts";
import { dataFixture } from "../chunk/harness.ts";
import { type FaultProxy, startFaultProxy } from "../harness/faultproxy.ts";
import { type S3Server, startS3Server } from "../harness/s3server.ts";

let s3: S3Server;
let proxy: FaultProxy;

beforeAll(async () => {
  s3 = await startS3Server();
  proxy = await startFaultProxy(s3.endpoint, 9);
});

afterAll(async () => {
  await proxy?.stop();
  await s3?.stop();
});

describe("reads while the object store refuses requests", () => {
  test("fail with EIO, logged once per object, without a stack", async () => {
    const bucket = new S3ObjectStore({
      bucketUrl: proxy.bucketUrl("read-failures"),
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      retriesMax: 2,
      retryBackoffMsBase: 5,
      retryBackoffMsMax: 20,
    });
    await using fx = await dataFixture({ objects: new PrefixedObjectStore(bucket, "test/") });
    const files = new Map<number, Buffer>();
    for (const name of ["a", "b"]) {
      const ino = await fx.newFile(name);
      const data = randomBytes(10_000);
      await fx.data.write(ino, 0, data);
      await fx.data.flush(ino);
      files.set(ino, data);
    }
    // No cache left to serve the blocks: every read goes to the store.
    const data = await fx.reopen({ cacheDir: "memory" });
    const [a, b] = [...files.keys()] as [number, number];
    expect((await data.read(a, 0, 10_000, 10_000)).equals(files.get(a)!)).toBe(true);

    const lines: string[] = [];
    const reporter: ConsolaReporter = {
      log: (entry) => lines.push(entry.args.map((x) => String(x)).join(" ")),
    };
    log.addReporter(reporter);
    proxy.inject({ fault: "500", fraction: 1 });
    try {
      const fresh = await fx.reopen({ cacheDir: "memory" });
      for (const ino of [a, a, a, b, b]) {
        const error = await fresh.read(ino, 0, 10_000, 10_000).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(FsError);
        expect((error as FsError).errno).toBe(Errno.EIO);
      }
    } finally {
      proxy.clear();
      log.removeReporter(reporter);
    }
    const failures = lines.filter((l) => l.startsWith("cannot read object"));
    expect(failures).toHaveLength(2);
    for (const [i, ino] of [a, b].entries()) {
      const [slice] = await fx.meta.readChunk(ino, 0);
      expect(failures[i]).toContain(`read-failures/test/chunks/0/0/${slice!.id}_0_10000`);
      expect(failures[i]).toContain("after 3 attempts");
      expect(failures[i]).toContain("the read fails with EIO");
    }
    expect(lines.join("\n")).not.toContain("    at ");
  }, 60_000);
});
