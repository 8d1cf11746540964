/** --allow CIDRs, --squash and anonymous ids (nfs/policy.ts). */
import { describe, expect, test } from "bun:test";
import { NfsPolicy, parseAddress } from "../../nfs/policy.ts";
import { AuthFlavor } from "../../nfs/rpc/constants.ts";
import { UserError } from "../../src/errors.ts";

const sys = (uid: number, gid: number, groups: number[] = []) => ({
  flavor: AuthFlavor.AUTH_SYS,
  stamp: 0,
  machineName: "h",
  uid,
  gid,
  groups,
});
const none = { flavor: AuthFlavor.AUTH_NONE };

describe("allow list", () => {
  test("empty: everyone", () => {
    expect(new NfsPolicy().isAllowed("203.0.113.9")).toBe(true);
  });

  test("IPv4 CIDRs and single hosts", () => {
    const policy = new NfsPolicy({ allow: ["10.0.0.0/8", "192.168.1.7", "172.16.0.0/12"] });
    expect(policy.isAllowed("10.200.3.4")).toBe(true);
    expect(policy.isAllowed("11.0.0.1")).toBe(false);
    expect(policy.isAllowed("192.168.1.7")).toBe(true);
    expect(policy.isAllowed("192.168.1.8")).toBe(false);
    expect(policy.isAllowed("172.31.255.255")).toBe(true);
    expect(policy.isAllowed("172.32.0.0")).toBe(false);
    expect(policy.isAllowed("::ffff:10.1.2.3")).toBe(true);
    expect(policy.isAllowed("::1")).toBe(false);
    expect(policy.isAllowed("garbage")).toBe(false);
    expect(policy.allowList).toEqual(["10.0.0.0/8", "192.168.1.7", "172.16.0.0/12"]);
  });

  test("IPv6 CIDRs", () => {
    const policy = new NfsPolicy({ allow: ["::1", "fd00::/8", "2001:db8:1::/48"] });
    expect(policy.isAllowed("::1")).toBe(true);
    expect(policy.isAllowed("fd12:3456::1")).toBe(true);
    expect(policy.isAllowed("2001:db8:1:ffff::1")).toBe(true);
    expect(policy.isAllowed("2001:db8:2::1")).toBe(false);
    expect(policy.isAllowed("127.0.0.1")).toBe(false);
    expect(new NfsPolicy({ allow: ["0.0.0.0/0"] }).isAllowed("8.8.8.8")).toBe(true);
  });

  test("addresses parse to bytes, IPv4-mapped IPv6 to IPv4", () => {
    expect([...(parseAddress("::ffff:1.2.3.4") ?? [])]).toEqual([1, 2, 3, 4]);
    expect(parseAddress("1:2:3:4:5:6:7:8")?.byteLength).toBe(16);
    expect([...(parseAddress("::2")?.subarray(14) ?? [])]).toEqual([0, 2]);
    expect(parseAddress("1.2.3")).toBeUndefined();
  });

  test("bad CIDRs are user errors", () => {
    for (const bad of ["10.0.0.0/33", "10.0.0.0/x", "host.example", "1.2.3.4/8/9", "::1/129", ""]) {
      expect(() => new NfsPolicy({ allow: [bad] })).toThrow(UserError);
    }
  });
});

describe("identity mapping", () => {
  test("AUTH_NONE is the anonymous user", () => {
    expect(new NfsPolicy().credentialsOf(none)).toEqual({
      uid: 65534,
      gid: 65534,
      groups: [],
      pid: 0,
    });
    const custom = new NfsPolicy({ anonUid: 99, anonGid: 98 });
    expect(custom.credentialsOf(none)).toMatchObject({ uid: 99, gid: 98 });
  });

  test("root_squash is the default, and gid 0 goes even for a non-root uid", () => {
    const policy = new NfsPolicy();
    expect(policy.squash).toBe("root");
    expect(policy.credentialsOf(sys(0, 0, [5]))).toEqual({
      uid: 65534,
      gid: 65534,
      groups: [5],
      pid: 0,
    });
    expect(policy.credentialsOf(sys(1000, 0, [0, 7]))).toEqual({
      uid: 1000,
      gid: 65534,
      groups: [65534, 7],
      pid: 0,
    });
    expect(policy.credentialsOf(sys(0xffff_ffff, 100, []))).toMatchObject({ uid: 65534 });
  });

  test("only reserved source ports by default; --insecure takes any", () => {
    const policy = new NfsPolicy();
    expect(policy.isPortAllowed(1023)).toBe(true);
    expect(policy.isPortAllowed(1024)).toBe(false);
    expect(policy.isPortAllowed(40000)).toBe(false);
    expect(new NfsPolicy({ insecure: true }).isPortAllowed(40000)).toBe(true);
  });

  test("squash none keeps AUTH_SYS as sent, root included", () => {
    expect(new NfsPolicy({ squash: "none" }).credentialsOf(sys(0, 0, [5]))).toEqual({
      uid: 0,
      gid: 0,
      groups: [5],
      pid: 0,
    });
  });

  test("squash root maps uid 0, gid 0 and group 0 only", () => {
    const policy = new NfsPolicy({ squash: "root" });
    expect(policy.credentialsOf(sys(0, 0, [0, 7]))).toEqual({
      uid: 65534,
      gid: 65534,
      groups: [65534, 7],
      pid: 0,
    });
    expect(policy.credentialsOf(sys(1000, 100, [7]))).toMatchObject({ uid: 1000, gid: 100 });
  });

  test("squash all maps everyone", () => {
    const policy = new NfsPolicy({ squash: "all", anonUid: 500, anonGid: 501 });
    expect(policy.credentialsOf(sys(1000, 100, [7]))).toEqual({
      uid: 500,
      gid: 501,
      groups: [],
      pid: 0,
    });
  });
});
