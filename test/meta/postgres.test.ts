import { metaConformance } from "./conformance.ts";
import { postgresBackend } from "./harness.ts";

metaConformance("postgres", postgresBackend);
