/**
 * Who may use the export and as whom: the --allow CIDR list, the reserved source port rule
 * (--insecure), --squash with --anonuid/--anongid, --read-only and --expose-trash. MOUNT and
 * NFS both ask it, per call (no state is kept per client: a client that was allowed at MNT is
 * still checked at every NFS call).
 *
 * The defaults are the Linux kernel server's: root_squash, and calls only from a reserved
 * source port (< 1024). The port rule authenticates nothing on a network of hosts whose root
 * you do not trust, but on one host it keeps every unprivileged local process (anything that
 * can reach 127.0.0.1) from sending AUTH_SYS with whatever uid it likes: only root can bind
 * such a port. A call from a higher port gets AUTH_TOOWEAK (NFS) or MNT3ERR_ACCES (MOUNT).
 *
 * Refusals are protocol-level: MNT answers MNT3ERR_ACCES and every NFS procedure but NULL
 * answers NFS3ERR_ACCES with its failure body (no attributes). A client then reports
 * "Permission denied", where an RPC-level AUTH_ERROR would show up as an I/O error or a hang
 * of retries. NULL (a ping) and the PORTMAP / MOUNT DUMP / EXPORT queries reveal nothing
 * about files and stay open to all, as with knfsd.
 */
import { isIPv4, isIPv6 } from "node:net";
import { UserError } from "../src/errors.ts";
import { NFS_ALLOW_RULES_MAX, NFS_ANON_ID_DEFAULT } from "../src/limits.ts";
import type { Credentials } from "../src/posix.ts";
import type { RpcCredentials } from "./rpc/auth.ts";
import { AuthFlavor } from "./rpc/constants.ts";

export type Squash = "none" | "root" | "all";

/** Source ports below this are reserved: only root can bind them (knfsd's "secure" port). */
export const RESERVED_PORT_LIMIT = 1024;
/** AUTH_SYS uid/gid (unsigned) -1: Linux's INVALID_UID, which knfsd maps to the anonymous id. */
const INVALID_ID = 0xffff_ffff;

export interface NfsPolicyOptions {
  /** CIDRs ("10.0.0.0/8", "::1", "127.0.0.1/32"); empty or absent: everyone. */
  allow?: readonly string[];
  /** Default "root" (root_squash). */
  squash?: Squash;
  anonUid?: number;
  anonGid?: number;
  readOnly?: boolean;
  /** Accept calls from unreserved source ports (>= 1024); default false. */
  insecure?: boolean;
  /** Let an export of "/" reach the trash (/.trash); default false. */
  exposeTrash?: boolean;
}

interface CidrRule {
  text: string;
  /** 4 or 16 bytes. */
  network: Uint8Array;
  prefixBits: number;
}

export class NfsPolicy {
  readonly readOnly: boolean;
  readonly squash: Squash;
  readonly anonUid: number;
  readonly anonGid: number;
  readonly insecure: boolean;
  readonly exposeTrash: boolean;
  private readonly rules: CidrRule[];

  constructor(options: NfsPolicyOptions = {}) {
    const allow = options.allow ?? [];
    if (allow.length > NFS_ALLOW_RULES_MAX) {
      throw new UserError(`--allow takes at most ${NFS_ALLOW_RULES_MAX} CIDRs`);
    }
    this.rules = allow.map(parseCidr);
    this.readOnly = options.readOnly === true;
    this.squash = options.squash ?? "root";
    this.insecure = options.insecure === true;
    this.exposeTrash = options.exposeTrash === true;
    this.anonUid = options.anonUid ?? NFS_ANON_ID_DEFAULT;
    this.anonGid = options.anonGid ?? NFS_ANON_ID_DEFAULT;
  }

  /** The allow rules as given (for MOUNT EXPORT's group list); empty means everyone. */
  get allowList(): string[] {
    return this.rules.map((rule) => rule.text);
  }

  isAllowed(address: string): boolean {
    if (this.rules.length === 0) return true;
    const bytes = parseAddress(address);
    if (bytes === undefined) return false;
    return this.rules.some((rule) => matches(rule, bytes));
  }

  /** Whether the source port passes: reserved, or any with --insecure. */
  isPortAllowed(port: number): boolean {
    return this.insecure || port < RESERVED_PORT_LIMIT;
  }

  /** The identity a call acts as, after AUTH_NONE and squash mapping. */
  credentialsOf(credentials: RpcCredentials): Credentials {
    const anon: Credentials = { uid: this.anonUid, gid: this.anonGid, groups: [], pid: 0 };
    if (credentials.flavor !== AuthFlavor.AUTH_SYS || this.squash === "all") return anon;
    const { uid, gid, groups } = credentials;
    // An invalid id (-1) is anonymous in every mode, as knfsd does (nfsd_setuser).
    const validUid = uid === INVALID_ID ? this.anonUid : uid;
    const validGid = gid === INVALID_ID ? this.anonGid : gid;
    if (this.squash === "root") {
      // root_squash (knfsd's nfsd_setuser): uid 0 and gid 0 each map to the anonymous ids,
      // independently (uid 1000 with gid 0 loses gid 0), and group 0 in the supplementary
      // list becomes anongid, so no membership of group 0 survives.
      return {
        uid: validUid === 0 ? this.anonUid : validUid,
        gid: validGid === 0 ? this.anonGid : validGid,
        groups: groups.map((g) => (g === 0 || g === INVALID_ID ? this.anonGid : g)),
        pid: 0,
      };
    }
    return { uid: validUid, gid: validGid, groups, pid: 0 };
  }
}

/** "a.b.c.d[/n]" or "ipv6[/n]"; a bare address is one host. */
export function parseCidr(text: string): CidrRule {
  const [addressText = "", prefixText, ...rest] = text.trim().split("/");
  const network = parseAddress(addressText);
  if (network === undefined || rest.length > 0) {
    throw new UserError(`--allow: "${text}" is not an IP address or CIDR`);
  }
  const maxBits = network.byteLength * 8;
  const prefixBits = prefixText === undefined ? maxBits : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? "0") || prefixBits > maxBits) {
    throw new UserError(`--allow: "${text}" has a bad prefix length (0..${maxBits})`);
  }
  return { text: text.trim(), network, prefixBits };
}

/** An address as bytes; IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes the IPv4 address. */
export function parseAddress(text: string): Uint8Array | undefined {
  const address = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (isIPv4(address)) return Uint8Array.from(address.split(".").map(Number));
  if (!isIPv6(address)) return undefined;
  const bytes = ipv6Bytes(address.replace(/%.*$/, ""));
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff;
  if (mapped && bytes[11] === 0xff) return bytes.slice(12);
  return bytes;
}

function ipv6Bytes(address: string): Uint8Array {
  let text = address;
  const lastColon = text.lastIndexOf(":");
  const last = text.slice(lastColon + 1);
  if (isIPv4(last)) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
    const [a = 0, b = 0, c = 0, d = 0] = last.split(".").map(Number);
    const hex = (x: number, y: number) => ((x << 8) | y).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hex(a, b)}:${hex(c, d)}`;
  }
  const [head = "", rest] = text.split("::");
  const groupsOf = (part: string) =>
    part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16));
  const front = groupsOf(head);
  const back = groupsOf(rest ?? "");
  const fill = rest === undefined ? 0 : 8 - front.length - back.length;
  const groups = [...front, ...new Array<number>(fill).fill(0), ...back];
  const bytes = new Uint8Array(16);
  for (const [i, g] of groups.slice(0, 8).entries()) {
    bytes[2 * i] = (g >> 8) & 0xff;
    bytes[2 * i + 1] = g & 0xff;
  }
  return bytes;
}

function matches(rule: CidrRule, address: Uint8Array): boolean {
  if (rule.network.byteLength !== address.byteLength) return false;
  let bits = rule.prefixBits;
  for (let i = 0; i < address.byteLength && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((rule.network[i] ?? 0) & mask) !== ((address[i] ?? 0) & mask)) return false;
  }
  return true;
}
