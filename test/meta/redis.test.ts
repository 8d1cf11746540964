import { metaConformance } from "./conformance.ts";
import { redisBackend } from "./fixtures.ts";

metaConformance("redis", redisBackend);
