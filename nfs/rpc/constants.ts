/**
 * ONC RPC version 2 protocol constants, RFC 5531 sections 8.1 (auth) and 9 (message protocol),
 * and the record marking standard of section 11.
 */

/** rpc_msg.rpcvers: the only version this protocol defines (RFC 5531 section 9). */
export const RPC_VERSION = 2;

/** enum msg_type (RFC 5531 section 9). */
export const MsgType = { CALL: 0, REPLY: 1 } as const;

/** enum reply_stat (RFC 5531 section 9). */
export const ReplyStat = { MSG_ACCEPTED: 0, MSG_DENIED: 1 } as const;

/** enum accept_stat (RFC 5531 section 9). */
export const AcceptStat = {
  SUCCESS: 0,
  PROG_UNAVAIL: 1,
  PROG_MISMATCH: 2,
  PROC_UNAVAIL: 3,
  GARBAGE_ARGS: 4,
  SYSTEM_ERR: 5,
} as const;
export type AcceptStat = (typeof AcceptStat)[keyof typeof AcceptStat];

/** enum reject_stat (RFC 5531 section 9). */
export const RejectStat = { RPC_MISMATCH: 0, AUTH_ERROR: 1 } as const;

/** enum auth_stat (RFC 5531 section 9); the GSS values are listed for decoding only. */
export const AuthStat = {
  AUTH_OK: 0,
  AUTH_BADCRED: 1,
  AUTH_REJECTEDCRED: 2,
  AUTH_BADVERF: 3,
  AUTH_REJECTEDVERF: 4,
  AUTH_TOOWEAK: 5,
  AUTH_INVALIDRESP: 6,
  AUTH_FAILED: 7,
  AUTH_KERB_GENERIC: 8,
  AUTH_TIMEEXPIRE: 9,
  AUTH_TKT_FILE: 10,
  AUTH_DECODE: 11,
  AUTH_NET_ADDR: 12,
  RPCSEC_GSS_CREDPROBLEM: 13,
  RPCSEC_GSS_CTXPROBLEM: 14,
} as const;
export type AuthStat = (typeof AuthStat)[keyof typeof AuthStat];

/** enum auth_flavor (RFC 5531 section 8.1 and its IANA registry). */
export const AuthFlavor = {
  AUTH_NONE: 0,
  AUTH_SYS: 1,
  AUTH_SHORT: 2,
  AUTH_DH: 3,
  RPCSEC_GSS: 6,
} as const;

/** Record marking (RFC 5531 section 11): the top bit of a fragment header marks the last one. */
export const RECORD_MARK_LAST_FRAGMENT = 0x8000_0000;
/** The low 31 bits of a fragment header are the fragment's length in bytes. */
export const RECORD_MARK_LENGTH_MASK = 0x7fff_ffff;
export const RECORD_MARK_BYTES = 4;

/** Well-known program numbers (RFC 1833, RFC 1813). */
export const RpcProgramNumber = {
  PORTMAP: 100000,
  NFS: 100003,
  MOUNT: 100005,
} as const;

/** Transport protocol numbers as the portmapper knows them (RFC 1833 section 3). */
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
