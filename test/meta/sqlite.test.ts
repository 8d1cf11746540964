import { metaConformance } from "./conformance.ts";
import { sqliteBackend } from "./harness.ts";

metaConformance("sqlite3", async () => sqliteBackend());
