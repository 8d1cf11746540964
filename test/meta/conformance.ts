/**
 * The Meta conformance suite: every case runs against every engine, through BaseMeta.
 */
import { afterAll, beforeAll, describe } from "bun:test";
import { attrCases } from "./cases/attrs.ts";
import { dataCases } from "./cases/data.ts";
import { namespaceCases } from "./cases/namespace.ts";
import { renameCases } from "./cases/rename.ts";
import type { MetaBackend } from "./fixtures.ts";

export function metaConformance(name: string, start: () => Promise<MetaBackend>): void {
  describe(`meta conformance: ${name}`, () => {
    let backend: MetaBackend | undefined;
    beforeAll(async () => {
      backend = await start();
    });
    afterAll(async () => {
      await backend?.stop();
    });
    const get = (): MetaBackend => {
      if (!backend) throw new Error("backend not started");
      return backend;
    };
    // Each group in its own describe: their beforeEach hooks must not reset each other.
    describe("namespace", () => namespaceCases(get));
    describe("rename", () => renameCases(get));
    describe("attributes", () => attrCases(get));
    describe("data", () => dataCases(get));
  });
}
