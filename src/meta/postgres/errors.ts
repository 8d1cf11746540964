/**
 * What a PostgreSQL error means for the engine: a lost race to run again (SQLSTATE 40001
 * serialization failure, 40P01 deadlock), a lost or refused connection (the server restarting),
 * or anything else; and the one line a person reads for it.
 */
import { SQL } from "bun";
import { describeError } from "../../errors.ts";
import type { PostgresUrl } from "./url.ts";

function sqlState(error: unknown): string | undefined {
  if (!(error instanceof SQL.PostgresError)) return undefined;
  return error.code === "ERR_POSTGRES_SERVER_ERROR" ? error.errno : undefined;
}

export function isRetryable(error: unknown): boolean {
  const state = sqlState(error);
  return state === "40001" || state === "40P01";
}

/**
 * The connection is gone or cannot be made now: a client-side connection error, or the server
 * saying it is shutting down (57P01-57P03, class 08). The transaction did not commit unless
 * COMMIT was already sent.
 */
export function isConnectionLoss(error: unknown): boolean {
  if (error instanceof SQL.PostgresError) {
    if (error.code !== "ERR_POSTGRES_SERVER_ERROR") {
      return /CONNECTION|TIMEOUT|SOCKET|TLS/.test(error.code);
    }
    const state = error.errno ?? "";
    return state.startsWith("08") || /^57P0[1-3]$/.test(state);
  }
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === "string" && /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH)$/.test(code)
  );
}

/** One line for a failed connect or query: what went wrong, never the password. */
export function pgErrorLine(error: unknown, url: PostgresUrl): string {
  const state = sqlState(error);
  // 28000 is the server refusing the login itself (no pg_hba.conf entry: wrong host, user,
  // database or encryption): its own message says which.
  if (state === "28P01") {
    return `authentication failed for user "${url.username}" (check the password in the META-URL or META_PASSWORD)`;
  }
  if (state === "3D000") return `database "${url.database}" does not exist`;
  if (error instanceof SQL.PostgresError) {
    if (error.code === "ERR_POSTGRES_CONNECTION_REFUSED") return "connection refused";
    if (error.code === "ERR_POSTGRES_CONNECTION_TIMEOUT" || /timeout/i.test(error.message)) {
      return "no answer from the server (connection timed out)";
    }
    if (error.code === "ERR_POSTGRES_CONNECTION_CLOSED") return "connection closed by the server";
    if (state !== undefined) return `${error.message} (SQLSTATE ${state})`;
  }
  return describeError(error).split("\n")[0] ?? "unknown error";
}
