import { metaConformance } from "./conformance.ts";
import { postgresBackend } from "./fixtures.ts";

metaConformance("postgres", postgresBackend);
