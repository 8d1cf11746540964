import { metaConformance } from "./conformance.ts";
import { sqliteBackend } from "./fixtures.ts";

metaConformance("sqlite3", async () => sqliteBackend());
