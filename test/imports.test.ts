/**
 * The layering, as a test (so .ci/run's `bun test` enforces it): front ends → VFS → {Meta,
 * Chunk → Object}, with src/volume above them all as the one place a volume is put together.
 *
 * - A front end (nfs/, src/fuse/, src/gateway/) imports no meta/, chunk/, object/ or volume/ module: it speaks
 *   the VFS and the shared vocabulary (src/posix.ts).
 * - The VFS imports no object/ module: blocks and their errors reach it through chunk/.
 * - Chunk imports no meta/, vfs/, volume/ or front end module.
 * - Above chunk, chunk is imported through its facade (src/chunk/index.ts) only, and no file
 *   names an object key (the blocks' "chunks/" prefix is src/chunk/keys.ts's).
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const REPO = join(import.meta.dir, "..");

type Sources = Map<string, string>;

function sourcesUnder(dirs: readonly string[]): Sources {
  const sources: Sources = new Map();
  for (const dir of dirs) {
    for (const entry of readdirSync(join(REPO, dir), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
      const path = relative(REPO, join(entry.parentPath, entry.name));
      sources.set(path, readFileSync(join(REPO, path), "utf8"));
    }
  }
  return sources;
}

/** Repository paths a file imports: static, type-only, re-exports and dynamic import(). */
function importsOf(path: string, text: string): string[] {
  const specs = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;"'`]*?\bfrom\s*"([^"]+)"/g),
    ...text.matchAll(/(?:^|\n)\s*import\s*"([^"]+)"/g),
    ...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
  ].map((m) => m[1]!);
  return specs.filter((s) => s.startsWith(".")).map((s) => normalize(join(dirname(path), s)));
}

const layer = (path: string): string => {
  if (path.startsWith("nfs/") || path.startsWith("src/fuse/") || path.startsWith("src/gateway/")) {
    return "frontend";
  }
  const m = /^src\/([a-z]+)\//.exec(path);
  return m ? m[1]! : path;
};

/** Where an object key is named: the blocks' prefix as a string literal. */
const OBJECT_KEY = /["'`]chunks\//;
const ABOVE_CHUNK = new Set(["frontend", "vfs", "volume", "cli"]);

/** One line per broken rule. */
export function violations(sources: Sources): string[] {
  const found: string[] = [];
  for (const [path, text] of sources) {
    const from = layer(path);
    for (const target of importsOf(path, text)) {
      const to = layer(target);
      const bad =
        (from === "frontend" && ["meta", "chunk", "object", "volume"].includes(to)) ||
        (from === "vfs" && to === "object") ||
        (from === "chunk" && ["meta", "vfs", "volume", "frontend", "cli"].includes(to)) ||
        (ABOVE_CHUNK.has(from) && to === "chunk" && target !== "src/chunk/index.ts");
      if (bad) found.push(`${path} imports ${target}`);
    }
    if (ABOVE_CHUNK.has(from) || path === "src/main.ts") {
      const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ""); // comments may say it
      if (OBJECT_KEY.test(code)) found.push(`${path} names an object key ("chunks/...")`);
    }
  }
  return found;
}

describe("import rules", () => {
  test("the code keeps them", () => {
    const sources = sourcesUnder(["src", "nfs"]);
    expect(sources.size).toBeGreaterThan(100);
    expect(violations(sources)).toEqual([]);
  });

  test("each rule catches what it is for", () => {
    const broken: Sources = new Map([
      ["nfs/nfs3/proc/x.ts", 'import type { Attr } from "../../../src/meta/interface.ts";'],
      ["src/fuse/x.ts", 'import { ChunkStore } from "../chunk/index.ts";'],
      ["src/vfs/x.ts", 'import { ObjectNotFoundError } from "../object/interface.ts";'],
      ["src/chunk/x.ts", 'export type { Meta } from "../meta/interface.ts";'],
      ["src/volume/x.ts", 'import { blockKey } from "../chunk/keys.ts";'],
      ["src/cli/x.ts", 'const m = await import("../object/index.ts");\nstore.list("chunks/");'],
      ["src/cli/y.ts", "// lists chunks/ (a comment)\nimport { a } from './options.ts';"],
    ]);
    expect(violations(broken)).toEqual([
      "nfs/nfs3/proc/x.ts imports src/meta/interface.ts",
      "src/fuse/x.ts imports src/chunk/index.ts",
      "src/vfs/x.ts imports src/object/interface.ts",
      "src/chunk/x.ts imports src/meta/interface.ts",
      "src/volume/x.ts imports src/chunk/keys.ts",
      'src/cli/x.ts names an object key ("chunks/...")',
    ]);
  });
});
