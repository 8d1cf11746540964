/**
 * RPC authentication (RFC 5531 section 8.1 and appendix A): opaque_auth, and the two flavors
 * jfs accepts. AUTH_NONE is anonymous; AUTH_SYS carries the caller's uid, gid and groups, which
 * the NFS layer passes to the core as the call's context (after any squashing it does).
 *
 * Policy for other flavors: AUTH_SHORT gets AUTH_REJECTEDCRED (we never hand out shorthand
 * credentials, and that answer tells a client to send its full AUTH_SYS credential again);
 * every other flavor (AUTH_DH, RPCSEC_GSS, unknown) gets AUTH_BADCRED, since we cannot check
 * it at all. AUTH_TOOWEAK is left to policy: the server's allow hook answers with it.
 */
import {
  RPC_AUTH_BODY_BYTES_MAX,
  RPC_AUTH_SYS_GIDS_MAX,
  RPC_AUTH_SYS_MACHINE_NAME_BYTES_MAX,
} from "../../src/limits.ts";
import { XdrError } from "../xdr/error.ts";
import { XdrReader } from "../xdr/reader.ts";
import { XdrWriter } from "../xdr/writer.ts";
import { AuthFlavor, AuthStat } from "./constants.ts";

/** struct opaque_auth { auth_flavor flavor; opaque body<400>; } (RFC 5531 section 8.2). */
export interface OpaqueAuth {
  flavor: number;
  body: Uint8Array;
}

export const AUTH_NONE_EMPTY: OpaqueAuth = { flavor: AuthFlavor.AUTH_NONE, body: new Uint8Array() };

export interface AuthNoneCredentials {
  flavor: typeof AuthFlavor.AUTH_NONE;
}

/** struct authsys_parms (RFC 5531 appendix A). */
export interface AuthSysCredentials {
  flavor: typeof AuthFlavor.AUTH_SYS;
  /** unsigned int stamp: arbitrary, chosen by the client. */
  stamp: number;
  /** string machinename<255>: the client's name for itself; informative only. */
  machineName: string;
  /** unsigned int uid, gid. */
  uid: number;
  gid: number;
  /** unsigned int gids<16>: supplementary groups. */
  groups: number[];
}

/** What an RPC call says about its caller; nfs/policy.ts maps it to POSIX Credentials. */
export type RpcCredentials = AuthNoneCredentials | AuthSysCredentials;

/** Reads an opaque_auth; a body above 400 bytes is an XdrError (the caller picks the stat). */
export function readOpaqueAuth(reader: XdrReader): OpaqueAuth {
  const flavor = reader.uint32();
  const body = reader.opaqueVar(RPC_AUTH_BODY_BYTES_MAX);
  return { flavor, body };
}

export function writeOpaqueAuth(writer: XdrWriter, auth: OpaqueAuth): void {
  writer.uint32(auth.flavor);
  writer.opaqueVar(auth.body, RPC_AUTH_BODY_BYTES_MAX);
}

export type CredentialsResult =
  | { ok: true; credentials: RpcCredentials }
  | { ok: false; authStat: AuthStat };

/** The credentials of a call, or the auth_stat to reject it with (RFC 5531 section 9). */
export function parseCredentials(cred: OpaqueAuth, verf: OpaqueAuth): CredentialsResult {
  // For AUTH_NONE and AUTH_SYS the verifier is AUTH_NONE (RFC 5531 appendix A).
  const verfOk = verf.flavor === AuthFlavor.AUTH_NONE;
  switch (cred.flavor) {
    case AuthFlavor.AUTH_NONE:
      if (!verfOk) return { ok: false, authStat: AuthStat.AUTH_BADVERF };
      return { ok: true, credentials: { flavor: AuthFlavor.AUTH_NONE } };
    case AuthFlavor.AUTH_SYS: {
      const credentials = decodeAuthSys(cred.body);
      if (credentials === undefined) return { ok: false, authStat: AuthStat.AUTH_BADCRED };
      if (!verfOk) return { ok: false, authStat: AuthStat.AUTH_BADVERF };
      return { ok: true, credentials };
    }
    case AuthFlavor.AUTH_SHORT:
      return { ok: false, authStat: AuthStat.AUTH_REJECTEDCRED };
    default:
      return { ok: false, authStat: AuthStat.AUTH_BADCRED };
  }
}

/** Decodes an authsys_parms body that must be consumed exactly; undefined if malformed. */
export function decodeAuthSys(body: Uint8Array): AuthSysCredentials | undefined {
  const reader = new XdrReader(body);
  try {
    const stamp = reader.uint32();
    // Informative only: odd bytes in a host name are replaced, not a reason to refuse.
    const machineName = reader.stringBytes(RPC_AUTH_SYS_MACHINE_NAME_BYTES_MAX).toString("utf8");
    const uid = reader.uint32();
    const gid = reader.uint32();
    const groups = reader.arrayVar(RPC_AUTH_SYS_GIDS_MAX, (r) => r.uint32());
    reader.assertConsumed("authsys_parms");
    return { flavor: AuthFlavor.AUTH_SYS, stamp, machineName, uid, gid, groups };
  } catch (error) {
    if (error instanceof XdrError) return undefined;
    throw error;
  }
}

/** An AUTH_SYS opaque_auth, as a client sends it. */
export function encodeAuthSys(credentials: Omit<AuthSysCredentials, "flavor">): OpaqueAuth {
  const writer = new XdrWriter();
  writer.uint32(credentials.stamp);
  writer.string(credentials.machineName, RPC_AUTH_SYS_MACHINE_NAME_BYTES_MAX);
  writer.uint32(credentials.uid);
  writer.uint32(credentials.gid);
  writer.arrayVar(credentials.groups, RPC_AUTH_SYS_GIDS_MAX, (w, gid) => w.uint32(gid));
  return { flavor: AuthFlavor.AUTH_SYS, body: writer.toBuffer() };
}
