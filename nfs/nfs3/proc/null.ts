/**
 * Procedure 0: NULL — void NFSPROC3_NULL(void) (RFC 1813 section 3.3.0). A ping: answered for
 * every client, allowed or not, so that "is the server up" never depends on policy.
 */
import { type Procedure, procedure, VOID_RESULT, voidArgs } from "../../rpc/dispatcher.ts";

export const NULL_PROC: Procedure = procedure("NULL", voidArgs, () => VOID_RESULT);
