/**
 * Dispatch by (program, version, procedure), RFC 5531 section 9's accept_stat rules:
 * unknown program → PROG_UNAVAIL; known program, unregistered version → PROG_MISMATCH with the
 * lowest and highest registered versions; unknown procedure → PROC_UNAVAIL. A procedure that
 * throws XdrError gets GARBAGE_ARGS, RpcError gets the reply it carries, anything else gets
 * SYSTEM_ERR and is logged: a bug in one procedure never takes the server down.
 *
 * Register a program once per version, its procedures indexed by procedure number:
 *
 *   dispatcher.register({ name: "MOUNT", prog: 100005, vers: 3, procedures: [
 *     procedure("NULL", voidArgs, () => new Uint8Array()),
 *     procedure("MNT", (r) => r.string(PATH_BYTES_MAX), async (call, path) => encodeMnt(...)),
 *   ]});
 */
import { consola } from "consola";
import { assert } from "../../src/assert.ts";
import { describeError } from "../../src/errors.ts";
import { opDone } from "../../src/metrics/jfs.ts";
import { XdrError } from "../xdr/error.ts";
import type { XdrReader } from "../xdr/reader.ts";
import type { RpcCredentials } from "./auth.ts";
import { AcceptStat } from "./constants.ts";
import { type ReplyBody, RpcError, type RpcReply } from "./reply.ts";

/** Where a call came from; the NFS policy checks the source port (reserved or --insecure). */
export interface ClientAddress {
  address: string;
  port: number;
  family: "IPv4" | "IPv6";
}

/** A decoded call header: what a procedure and the server's allow hook get to see. */
export interface RpcCall {
  xid: number;
  prog: number;
  vers: number;
  proc: number;
  credentials: RpcCredentials;
  client: ClientAddress;
  /** The server port the client connected to (what PORTMAP GETPORT announces). */
  localPort: number;
}

/**
 * A procedure: decodes its arguments from `args` (which ends where the record ends) and
 * returns its encoded result. Many run concurrently, even on one connection.
 */
export type ProcedureHandler = (call: RpcCall, args: XdrReader) => ReplyBody | Promise<ReplyBody>;

export interface Procedure {
  /** For logs: "NULL", "GETPORT", "READ", ... */
  name: string;
  handler: ProcedureHandler;
  /**
   * Nothing of the arguments is kept once the handler's promise settles (the data is copied
   * where it goes): the connection may then reuse the record's buffer (NFS WRITE).
   */
  recyclesArgs?: boolean;
}

export interface RpcProgram {
  name: string;
  prog: number;
  vers: number;
  /** Indexed by procedure number; dense (an unimplemented one throws RpcError PROC_UNAVAIL). */
  procedures: readonly Procedure[];
}

/** What the RPC layer logs through; a consola instance fits, tests pass a recorder. */
export interface RpcLogger {
  error(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
  info(message: string, ...details: unknown[]): void;
  debug(message: string, ...details: unknown[]): void;
}

/**
 * A procedure whose arguments are decoded first and must use up the record exactly, so a
 * call with trailing garbage is refused (GARBAGE_ARGS) before it does anything.
 */
export function procedure<A>(
  name: string,
  decode: (args: XdrReader) => A,
  run: (call: RpcCall, args: A) => ReplyBody | Promise<ReplyBody>,
  options: { recyclesArgs?: boolean } = {},
): Procedure {
  return {
    name,
    recyclesArgs: options.recyclesArgs === true,
    handler: (call, reader) => {
      const args = decode(reader);
      reader.assertConsumed(`${name} arguments`);
      return run(call, args);
    },
  };
}

/** Decoder for `void` arguments (RFC 4506 section 4.16): nothing to read. */
export function voidArgs(_args: XdrReader): undefined {
  return undefined;
}

/** The `void` result: an empty body. */
export const VOID_RESULT: Uint8Array = new Uint8Array(0);

export class Dispatcher {
  /** prog → vers → program. */
  private readonly programsByNumber = new Map<number, Map<number, RpcProgram>>();
  private readonly log: RpcLogger;

  constructor(options: { log?: RpcLogger } = {}) {
    this.log = options.log ?? consola.withTag("rpc");
  }

  register(program: RpcProgram): void {
    assert(isUint32(program.prog) && isUint32(program.vers), `${program.name}: bad numbers`);
    assert(program.procedures.length > 0, `${program.name}: no procedures`);
    for (let i = 0; i < program.procedures.length; i++) {
      assert(program.procedures[i] !== undefined, `${program.name}: procedure ${i} missing`);
    }
    let versions = this.programsByNumber.get(program.prog);
    if (versions === undefined) {
      versions = new Map();
      this.programsByNumber.set(program.prog, versions);
    }
    assert(!versions.has(program.vers), `${program.name} v${program.vers} registered twice`);
    versions.set(program.vers, program);
  }

  /** Every registered (program, version), in registration order. */
  programs(): RpcProgram[] {
    return [...this.programsByNumber.values()].flatMap((versions) => [...versions.values()]);
  }

  /** Runs a call to completion. Never throws: every failure is an error reply. */
  async dispatch(call: RpcCall, args: XdrReader): Promise<RpcReply> {
    const found = this.lookup(call.prog, call.vers, call.proc);
    if ("kind" in found) return found;
    const { program, procedure } = found;
    // NFS procedures by name (READ, LOOKUP); the others by program too (MOUNT_MNT, PORTMAP_NULL).
    const op = program.name === "NFS" ? procedure.name : `${program.name}_${procedure.name}`;
    const startMs = performance.now();
    try {
      const body = await procedure.handler(call, args);
      opDone("nfs", op, startMs);
      return { kind: "success", body };
    } catch (error) {
      opDone("nfs", op, startMs, true);
      if (error instanceof XdrError) {
        this.log.debug(`${program.name} ${procedure.name} xid ${call.xid}: ${error.message}`);
        return { kind: "acceptError", stat: AcceptStat.GARBAGE_ARGS };
      }
      if (error instanceof RpcError) return error.reply;
      this.log.error(
        `${program.name} v${program.vers} ${procedure.name} xid ${call.xid} from ` +
          `${call.client.address}: ${describeError(error)}`,
        error,
      );
      return { kind: "acceptError", stat: AcceptStat.SYSTEM_ERR };
    }
  }

  /** Whether the procedure called may have its record reused once it answered. */
  recyclesArgs(prog: number, vers: number, proc: number): boolean {
    return this.programsByNumber.get(prog)?.get(vers)?.procedures[proc]?.recyclesArgs === true;
  }

  private lookup(
    prog: number,
    vers: number,
    proc: number,
  ): { program: RpcProgram; procedure: Procedure } | RpcReply {
    const versions = this.programsByNumber.get(prog);
    if (versions === undefined) return { kind: "acceptError", stat: AcceptStat.PROG_UNAVAIL };
    const program = versions.get(vers);
    if (program === undefined) {
      const numbers = [...versions.keys()];
      return { kind: "progMismatch", low: Math.min(...numbers), high: Math.max(...numbers) };
    }
    const procedure = program.procedures[proc];
    if (procedure === undefined) return { kind: "acceptError", stat: AcceptStat.PROC_UNAVAIL };
    return { program, procedure };
  }
}

function isUint32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}
