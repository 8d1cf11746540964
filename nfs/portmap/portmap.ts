/**
 * PORTMAP version 2 (RFC 1833 section 3), served on the same port as everything else, so
 * that clients which ask the portmapper first (libnfs, rpcinfo, mount without port=) find
 * MOUNT and NFS on it. It is read-only: the table is the dispatcher's registered programs,
 * all over TCP on the port the client is talking to.
 *
 *   struct mapping { unsigned int prog; unsigned int vers; unsigned int prot; unsigned int port; }
 *   struct *pmaplist { mapping map; pmaplist next; }
 *
 * GETPORT matches (prog, prot) and answers even when only another version of prog is
 * registered, as the classic portmapper does: the client then gets PROG_MISMATCH with our
 * version range from the program itself, which says more than a bare 0. SET and UNSET always
 * answer FALSE: nobody else registers here. CALLIT is not offered (PROC_UNAVAIL): it is an
 * amplifier over UDP and useless over TCP.
 */

import { IPPROTO_TCP, RpcProgramNumber } from "../rpc/constants.ts";
import {
  type Dispatcher,
  procedure,
  type RpcCall,
  type RpcProgram,
  VOID_RESULT,
  voidArgs,
} from "../rpc/dispatcher.ts";
import type { XdrReader } from "../xdr/reader.ts";
import { XdrWriter } from "../xdr/writer.ts";

export const PMAP_PROG = RpcProgramNumber.PORTMAP;
export const PMAP_VERS = 2;

/** Procedure numbers of PMAP_VERS (RFC 1833 section 3.1). */
export const PmapProc = { NULL: 0, SET: 1, UNSET: 2, GETPORT: 3, DUMP: 4, CALLIT: 5 } as const;

export interface PortMapping {
  prog: number;
  vers: number;
  prot: number;
  port: number;
}

/** A bound for decoding a DUMP reply (ours lists one entry per registered program version). */
export const PMAP_DUMP_ENTRIES_MAX = 1024;

export function readMapping(reader: XdrReader): PortMapping {
  const prog = reader.uint32();
  const vers = reader.uint32();
  const prot = reader.uint32();
  const port = reader.uint32();
  return { prog, vers, prot, port };
}

export function writeMapping(writer: XdrWriter, mapping: PortMapping): void {
  writer.uint32(mapping.prog).uint32(mapping.vers).uint32(mapping.prot).uint32(mapping.port);
}

export interface PortmapOptions {
  /** The port to announce; default: the port the calling client is connected to. */
  port?: () => number;
}

/** PORTMAP v2 over the programs of `dispatcher`; register it with that same dispatcher. */
export function portmapProgram(dispatcher: Dispatcher, options: PortmapOptions = {}): RpcProgram {
  const portOf = (call: RpcCall): number => options.port?.() ?? call.localPort;
  const refuse = (_call: RpcCall, _mapping: PortMapping) => new XdrWriter(4).bool(false);

  const getport = (call: RpcCall, wanted: PortMapping) => {
    const known = dispatcher.programs().some((program) => program.prog === wanted.prog);
    const port = known && wanted.prot === IPPROTO_TCP ? portOf(call) : 0;
    return new XdrWriter(4).uint32(port);
  };

  const dump = (call: RpcCall) => {
    const port = portOf(call);
    const mappings = dispatcher
      .programs()
      .map((program) => ({ prog: program.prog, vers: program.vers, prot: IPPROTO_TCP, port }));
    return new XdrWriter(16 + 20 * mappings.length).list(mappings, writeMapping);
  };

  return {
    name: "PORTMAP",
    prog: PMAP_PROG,
    vers: PMAP_VERS,
    procedures: [
      procedure("NULL", voidArgs, () => VOID_RESULT),
      procedure("SET", readMapping, refuse),
      procedure("UNSET", readMapping, refuse),
      procedure("GETPORT", readMapping, getport),
      procedure("DUMP", voidArgs, dump),
      // CALLIT (5) is left out: the dispatcher answers PROC_UNAVAIL.
    ],
  };
}
