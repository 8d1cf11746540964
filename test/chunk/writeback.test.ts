/**
 * Writeback: a flush returns once blocks are staged in the disk cache; uploads follow. The object
 * store here is a real FileObjectStore behind a ProbeStore whose PUTs can be held (a gate) or
 * failed, so "not uploaded yet" is a state the test controls rather than a race it hopes for.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { refKey } from "../../src/chunk/keys.ts";
import { ChunkFileData, type FileDataOptions } from "../../src/volume/filedata.ts";
import { dataFixture, ProbeStore, rng, waitFor } from "./harness.ts";

const KiB = 1024;

/** PUTs wait while the gate is closed. */
function gate(probe: ProbeStore) {
  let open: () => void = () => undefined;
  let opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  probe.onPut = () => opened;
  return {
    open: () => open(),
    close: () => {
      opened = new Promise<void>((resolve) => {
        open = resolve;
      });
    },
  };
}

/** A data fixture with writeback on (and `options`), its object store behind a ProbeStore. */
async function probedFixture(options: Partial<FileDataOptions> = {}) {
  let probe: ProbeStore | undefined;
  const fx = await dataFixture({
    options: { writeback: true, ...options },
    wrap: (s) => {
      probe = new ProbeStore(s);
      return probe;
    },
  });
  return Object.assign(fx, { probe: probe! });
}

const stagingOf = (cacheRoot: string) => {
  const [volume] = readdirSync(cacheRoot);
  return join(cacheRoot, volume!, "staging");
};

describe("writeback", () => {
  test("flush returns with the PUT held; reads are served from the cache; the upload follows", async () => {
    await using fx = await probedFixture();
    const probe = fx.probe;
    const g = gate(probe);
    const ino = await fx.newFile("f");
    const data = rng(1).bytes(150 * KiB); // three 64 KiB blocks, the last one short
    await fx.data.write(ino, 0, data);
    await fx.data.flush(ino); // would hang here without writeback: every PUT is held
    expect(probe.puts).toBe(0);
    expect(await fx.keys()).toEqual([]);
    expect(readdirSync(stagingOf(fx.options.cacheDir))).toHaveLength(3);
    expect(await fx.data.read(ino, 0, data.length, data.length)).toEqual(data);
    expect(fx.data.chunks.stats().writebackPending).toBe(3);

    g.open();
    await waitFor(() => fx.data.chunks.stats().writebackPending === 0);
    expect(probe.puts).toBe(3);
    expect(await fx.keys()).toHaveLength(3);
    expect(readdirSync(stagingOf(fx.options.cacheDir))).toEqual([]);
    // Read from the object store alone: a fresh data path with an empty cache elsewhere.
    const cold = await fx.reopen({ cacheDir: join(fx.dir, "other-cache"), writeback: false });
    expect(await cold.read(ino, 0, data.length, data.length)).toEqual(data);
  });

  test("a staged full block stays cached after its upload, without cacheLargeWrite", async () => {
    await using fx = await probedFixture({ cacheLargeWrite: false });
    const ino = await fx.newFile("f");
    const data = rng(7).bytes(150 * KiB); // two full 64 KiB blocks and a short one
    await fx.data.write(ino, 0, data);
    await fx.data.flush(ino);
    await waitFor(() => fx.data.chunks.stats().writebackPending === 0);
    expect(fx.probe.puts).toBe(3);
    expect(fx.data.chunks.stats().disk?.blocks).toBe(3); // the stage is the cached copy
    const before = fx.probe.gets;
    const warm = await fx.reopen({ memCacheBytes: 0 });
    expect(await warm.read(ino, 0, data.length, data.length)).toEqual(data);
    expect(fx.probe.gets).toBe(before);
  });

  test("blocks staged by a run that never uploaded them are uploaded by the next one", async () => {
    await using fx = await probedFixture();
    const probe = fx.probe;
    probe.failPuts = true; // the first run cannot upload anything (and stops retrying at close)
    const ino = await fx.newFile("f");
    const data = rng(2).bytes(100 * KiB);
    await fx.data.write(ino, 0, data);
    await fx.data.flush(ino);
    await fx.data.close();
    expect(await fx.keys()).toEqual([]);
    expect(readdirSync(stagingOf(fx.options.cacheDir))).toHaveLength(2);

    probe.failPuts = false;
    const next = new ChunkFileData({
      meta: fx.meta,
      store: fx.objects,
      format: fx.format,
      options: fx.options,
    });
    fx.data = next;
    await waitFor(async () => (await fx.keys()).length === 2);
    await waitFor(() => readdirSync(stagingOf(fx.options.cacheDir)).length === 0);
    const cold = await fx.reopen({ cacheDir: join(fx.dir, "other-cache"), writeback: false });
    expect(await cold.read(ino, 0, data.length, data.length)).toEqual(data);
  });

  test("the next run uploads blocks staged by an earlier one even without writeback", async () => {
    await using fx = await probedFixture();
    const probe = fx.probe;
    probe.failPuts = true;
    const ino = await fx.newFile("f");
    const data = rng(7).bytes(100 * KiB);
    await fx.data.write(ino, 0, data);
    await fx.data.flush(ino);
    await fx.data.close();
    expect(readdirSync(stagingOf(fx.options.cacheDir))).toHaveLength(2);

    probe.failPuts = false;
    const next = await fx.reopen({ writeback: false });
    await waitFor(async () => (await fx.keys()).length === 2);
    await waitFor(() => readdirSync(stagingOf(fx.options.cacheDir)).length === 0);
    expect(next.chunks.stats().writebackPending).toBe(0);
    // New writes of this run are uploaded before their flush returns, as without writeback.
    const other = await fx.newFile("g");
    await next.write(other, 0, rng(8).bytes(10 * KiB));
    await next.flush(other);
    expect(await fx.keys()).toHaveLength(3);
    expect(readdirSync(stagingOf(fx.options.cacheDir))).toEqual([]);
    const cold = await fx.reopen({ cacheDir: join(fx.dir, "other-cache"), writeback: false });
    expect(await cold.read(ino, 0, data.length, data.length)).toEqual(data);
  });

  test("a staged file lost from the cache name is found again through its staging link", async () => {
    await using fx = await probedFixture();
    const probe = fx.probe;
    probe.failPuts = true;
    const ino = await fx.newFile("f");
    const data = rng(3).bytes(10 * KiB);
    await fx.data.write(ino, 0, data);
    await fx.data.flush(ino);
    await fx.data.close();
    // The cache name of the block goes (as if evicted by hand); the staging link keeps the bytes.
    const [volume] = readdirSync(fx.options.cacheDir);
    const slices = await fx.meta.readChunk(ino, 0);
    const key = refKey({ sliceId: slices[0]!.id, index: 0, bytes: data.length });
    Bun.spawnSync(["rm", join(fx.options.cacheDir, volume!, "raw", key)]);
    probe.failPuts = false;
    const next = await fx.reopen();
    expect(await next.read(ino, 0, data.length, data.length)).toEqual(data);
    await waitFor(async () => (await fx.keys()).length === 1);
  });

  test("a block deleted before its upload is never uploaded", async () => {
    await using fx = await probedFixture();
    const probe = fx.probe;
    const g = gate(probe);
    const ino = await fx.newFile("f");
    // Two blocks: the first one's PUT is held at the gate (in flight), the second is queued
    // behind it when the store allows one upload at a time.
    const next = await fx.reopen({ maxUploads: 1 });
    g.close();
    await next.write(ino, 0, rng(4).bytes(128 * KiB));
    await next.flush(ino);
    const [slice] = await fx.meta.readChunk(ino, 0);
    const removing = next.chunks.remove(slice!.id, slice!.size);
    g.open();
    await removing;
    await waitFor(() => next.chunks.stats().writebackPending === 0);
    expect(await fx.keys()).toEqual([]);
    expect(readdirSync(stagingOf(fx.options.cacheDir))).toEqual([]);
  });

  test("with no room in the cache, blocks are uploaded before flush returns", async () => {
    await using fx = await probedFixture({ cacheSizeBytes: 16 * KiB });
    const probe = fx.probe;
    const ino = await fx.newFile("f");
    const data = rng(5).bytes(64 * KiB);
    await fx.data.write(ino, 0, data);
    await fx.data.flush(ino);
    expect(probe.puts).toBe(1);
    expect(await fx.keys()).toHaveLength(1);
    expect(fx.data.chunks.stats().writebackPending).toBe(0);
  });

  test("a corrupt staged file is reported and dropped, not uploaded", async () => {
    await using fx = await probedFixture();
    const probe = fx.probe;
    probe.failPuts = true;
    const ino = await fx.newFile("f");
    await fx.data.write(ino, 0, rng(6).bytes(8 * KiB));
    await fx.data.flush(ino);
    await fx.data.close();
    const staging = stagingOf(fx.options.cacheDir);
    const [name] = readdirSync(staging);
    const file = join(staging, name!);
    const bytes = Buffer.from(await Bun.file(file).arrayBuffer());
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(file, bytes); // in place: both names see it
    probe.failPuts = false;
    const next = await fx.reopen();
    await waitFor(() => readdirSync(staging).length === 0);
    expect(next.chunks.stats().writebackPending).toBe(0);
    expect(await fx.keys()).toEqual([]);
  });
});
