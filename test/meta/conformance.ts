/**
 * The Meta conformance suite: every case runs against every engine, through BaseMeta.
 */
import { afterAll, beforeAll, describe, test } from "bun:test";
import { attrCases } from "./cases/attrs.ts";
import { batchCases } from "./cases/batch.ts";
import { dataCases } from "./cases/data.ts";
import { durabilityCases } from "./cases/durability.ts";
import { lockCases } from "./cases/locks.ts";
import { namespaceCases } from "./cases/namespace.ts";
import { quotaCases } from "./cases/quota.ts";
import { renameCases } from "./cases/rename.ts";
import { sessionCases } from "./cases/sessions.ts";
import { formatted, type MetaBackend } from "./harness.ts";
import { runModel } from "./model.ts";

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
    describe("remove batch", () => batchCases(get));
    describe("attributes", () => attrCases(get));
    describe("data", () => dataCases(get));
    describe("sessions", () => sessionCases(get));
    describe("locks", () => lockCases(get));
    describe("quotas", () => quotaCases(get));
    describe("durability", () => durabilityCases(get));
    describe("model", () => {
      for (const seed of [1, 2, 3]) {
        test(`random namespace operations agree with the model (seed ${seed})`, async () => {
          await get().reset();
          await runModel(await formatted(get()), seed, 600);
        });
      }
    });
  });
}
