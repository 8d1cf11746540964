import { metaConformance } from "./conformance.ts";
import { redisBackend } from "./harness.ts";

metaConformance("redis", redisBackend);
