/**
 * The shared ObjectStore suite against every store: a temp directory, s3rver, the decorated
 * stack jfs really uses (prefix + checksum), and a real S3 endpoint when the environment names
 * one: JFS_TEST_S3_ENDPOINT (http://host:port), JFS_TEST_S3_BUCKET, JFS_TEST_S3_ACCESS_KEY,
 * JFS_TEST_S3_SECRET_KEY. That run works under a fresh random prefix and deletes it afterwards.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createObjectStore } from "../../src/object/index.ts";
import type { ObjectStore } from "../../src/object/interface.ts";
import { startS3Server } from "../harness/s3server.ts";
import { listAll, objectStoreSuite } from "./suite.ts";

async function tempDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "jfs-object-"));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

objectStoreSuite("file", async () => {
  const dir = await tempDir();
  const store = createObjectStore({ storage: "file", bucket: dir.path });
  return { store, listOrderExact: true, stop: () => dir.remove() };
});

objectStoreSuite("file + checksum + prefix", async () => {
  const dir = await tempDir();
  const store = createObjectStore({
    storage: "file",
    bucket: `file://${dir.path}`,
    checksum: true,
    prefix: "volume/",
  });
  return { store, listOrderExact: true, stop: () => dir.remove() };
});

objectStoreSuite("s3 (s3rver)", async () => {
  const s3 = await startS3Server();
  const store = createObjectStore({
    storage: "s3",
    bucket: s3.bucketUrl("jfs-suite"),
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
  });
  const stop = async (): Promise<void> => {
    await store.close();
    await s3.stop();
  };
  return { store, listOrderExact: false, stop };
});

const external = {
  endpoint: process.env.JFS_TEST_S3_ENDPOINT,
  bucket: process.env.JFS_TEST_S3_BUCKET,
  accessKey: process.env.JFS_TEST_S3_ACCESS_KEY,
  secretKey: process.env.JFS_TEST_S3_SECRET_KEY,
};
if (external.endpoint !== undefined && external.endpoint !== "") {
  objectStoreSuite(`s3 (${external.endpoint})`, async () => {
    const bucket = external.bucket ?? "jfs-test";
    const prefix = `jfs-test-${randomBytes(6).toString("hex")}`;
    const store = createObjectStore({
      storage: "s3",
      bucket: `${external.endpoint!.replace(/\/+$/, "")}/${bucket}/${prefix}`,
      accessKey: external.accessKey,
      secretKey: external.secretKey,
    });
    return { store, listOrderExact: true, stop: () => deleteEverything(store) };
  });
}

async function deleteEverything(store: ObjectStore): Promise<void> {
  const objects = await listAll(store, "");
  for (let i = 0; i < objects.length; i += 32) {
    await Promise.all(objects.slice(i, i + 32).map((info) => store.delete(info.key)));
  }
  await store.close();
}
