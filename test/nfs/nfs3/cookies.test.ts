/**
 * READDIRPLUS cookies under concurrent change: a 2,000-entry directory listed in small pages
 * while another client keeps creating and removing entries. Every entry that exists from start
 * to end is listed exactly once, no name is listed twice, cookies only grow (no restart, no
 * loop), and the listing ends.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CreateMode } from "../../../nfs/nfs3/constants.ts";
import { type InProcessNfs, makeVolume, startNfs, type TestVolume } from "../harness.ts";
import { NfsClient, ok } from "../nfsclient.ts";

const SURVIVORS = 2000;
const VICTIMS = 600;
const PAGE_BYTES = 2048;

let volume: TestVolume;
let nfs: InProcessNfs;

beforeAll(async () => {
  volume = await makeVolume();
  nfs = await startNfs(volume);
});

afterAll(async () => {
  await nfs.stop();
  volume[Symbol.dispose]();
});

async function createAll(client: NfsClient, dir: Buffer, names: string[]): Promise<void> {
  const how = { mode: CreateMode.GUARDED, attributes: { mode: 0o644 } } as const;
  for (let i = 0; i < names.length; i += 100) {
    const batch = names.slice(i, i + 100).map((name) => client.create(dir, name, how));
    for (const res of await Promise.all(batch)) ok(res, "CREATE");
  }
}

test("2,000 survivors listed once each in small pages while entries come and go", async () => {
  await using lister = await NfsClient.connect(nfs.port);
  await using changer = await NfsClient.connect(nfs.port);
  const root = await lister.mount("/");
  const dir = ok(await lister.mkdir(root, "busy")).obj as Buffer;
  const survivors = Array.from({ length: SURVIVORS }, (_, i) => `s-${String(i).padStart(4, "0")}`);
  const victims = Array.from({ length: VICTIMS }, (_, i) => `v-${i}`);
  // Interleave creation so that victims sit between survivors in cookie order.
  const initial = survivors.flatMap((name, i) =>
    i < VICTIMS ? [name, victims[i] as string] : [name],
  );
  await createAll(lister, dir, initial);

  let stop = false;
  let changes = 0;
  const churn = (async () => {
    const how = { mode: CreateMode.GUARDED, attributes: { mode: 0o644 } } as const;
    for (let i = 0; !stop; i++) {
      const victim = victims[i];
      if (victim !== undefined) ok(await changer.remove(dir, victim), "REMOVE");
      ok(await changer.create(dir, `n-${i}`, how), "CREATE");
      changes++;
    }
  })();

  const seen = new Map<string, number>();
  let cookie = 0n;
  let pages = 0;
  for (;;) {
    const page = ok(
      await lister.readdirplus(dir, cookie, PAGE_BYTES, PAGE_BYTES / 8),
      "READDIRPLUS",
    ).page;
    pages++;
    for (const e of page.entries) {
      const name = e.name.toString();
      seen.set(name, (seen.get(name) ?? 0) + 1);
      expect(e.cookie).toBeGreaterThan(cookie);
      cookie = e.cookie;
      if (name !== "." && name !== "..") expect(e.attributes).toBeDefined();
    }
    if (page.eof) break;
    expect(page.entries.length).toBeGreaterThan(0);
    expect(pages).toBeLessThan(10 * (SURVIVORS + VICTIMS));
  }
  stop = true;
  await churn;

  expect(changes).toBeGreaterThan(10); // the listing really ran while the directory changed
  expect(pages).toBeGreaterThan(50);
  const missing = survivors.filter((name) => seen.get(name) !== 1);
  expect(missing).toEqual([]);
  const duplicates = [...seen].filter(([, count]) => count > 1);
  expect(duplicates).toEqual([]);
  expect(seen.get(".")).toBe(1);
  expect(seen.get("..")).toBe(1);
}, 120_000);
