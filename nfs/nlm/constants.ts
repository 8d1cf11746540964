/**
 * Numbers of the Network Lock Manager, version 4 (program 100021; Open Group XNFS 3W, "Protocols
 * for Interworking: XNFS", chapter 10, and RFC 1813 appendix II), and of the Network Status
 * Monitor (program 100024 version 1, XNFS chapter 11) that tells lock managers of reboots.
 */

export const NLM_PROG = 100021;
export const NLM_V4 = 4;
export const NSM_PROG = 100024;
export const NSM_V1 = 1;

/** NLMPROC4_* (procedures 16..19 are unassigned). */
export const NlmProc = {
  NULL: 0,
  TEST: 1,
  LOCK: 2,
  CANCEL: 3,
  UNLOCK: 4,
  GRANTED: 5,
  TEST_MSG: 6,
  LOCK_MSG: 7,
  CANCEL_MSG: 8,
  UNLOCK_MSG: 9,
  GRANTED_MSG: 10,
  TEST_RES: 11,
  LOCK_RES: 12,
  CANCEL_RES: 13,
  UNLOCK_RES: 14,
  GRANTED_RES: 15,
  SHARE: 20,
  UNSHARE: 21,
  NM_LOCK: 22,
  FREE_ALL: 23,
} as const;

/** enum nlm4_stats. */
export const Nlm4Stat = {
  GRANTED: 0,
  DENIED: 1,
  DENIED_NOLOCKS: 2,
  BLOCKED: 3,
  DENIED_GRACE_PERIOD: 4,
  DEADLCK: 5,
  ROFS: 6,
  STALE_FH: 7,
  FBIG: 8,
  FAILED: 9,
} as const;
export type Nlm4Stat = (typeof Nlm4Stat)[keyof typeof Nlm4Stat];

/** SM_* procedures of NSM version 1. */
export const NsmProc = {
  NULL: 0,
  STAT: 1,
  MON: 2,
  UNMON: 3,
  UNMON_ALL: 4,
  SIMU_CRASH: 5,
  NOTIFY: 6,
} as const;

/** enum res of NSM. */
export const NsmRes = { STAT_SUCC: 0, STAT_FAIL: 1 } as const;

/** LM_MAXSTRLEN: caller_name and NSM's mon_name. */
export const LM_MAXSTRLEN = 1024;
/** MAXNETOBJ_SZ: cookies, file handles and owner handles are netobj (opaque<1024>). */
export const NETOBJ_BYTES_MAX = 1024;
/** NSM's priv is opaque[16]. */
export const NSM_PRIV_BYTES = 16;
