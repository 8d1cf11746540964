/**
 * ONC RPC v2 without a socket: record marking, call and reply golden bytes (hand-computed from
 * RFC 5531 section 9's layouts), credentials, and the dispatcher's accept_stat rules.
 * The running server is tested in rpcserver.test.ts.
 */
import { describe, expect, test } from "bun:test";
import {
  AUTH_NONE_EMPTY,
  decodeAuthSys,
  encodeAuthSys,
  parseCredentials,
} from "../../../nfs/rpc/auth.ts";
import { decodeCall } from "../../../nfs/rpc/call.ts";
import { AcceptStat, AuthFlavor, AuthStat } from "../../../nfs/rpc/constants.ts";
import {
  Dispatcher,
  procedure,
  type RpcCall,
  type RpcLogger,
  VOID_RESULT,
  voidArgs,
} from "../../../nfs/rpc/dispatcher.ts";
import { RecordDecoder, RecordError } from "../../../nfs/rpc/record.ts";
import { decodeReply, encodeReplyRecord, RpcError, resultsWriter } from "../../../nfs/rpc/reply.ts";
import { XdrReader } from "../../../nfs/xdr/reader.ts";
import { XdrWriter } from "../../../nfs/xdr/writer.ts";
import { RPC_RECORD_BYTES_MAX } from "../../../src/limits.ts";

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ""), "hex");
}

/** NFS (100003) v3 NULL, xid 0x01020304, AUTH_NONE cred and verf: 40 bytes. */
const NULL_CALL = hex(`
  01 02 03 04  00 00 00 00  00 00 00 02  00 01 86 a3  00 00 00 03  00 00 00 00
  00 00 00 00 00 00 00 00   00 00 00 00 00 00 00 00`);
/** Its reply: MSG_ACCEPTED, AUTH_NONE verifier, SUCCESS, void results; 24 bytes. */
const NULL_REPLY = hex(
  "01 02 03 04  00 00 00 01  00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00",
);
/** authsys_parms: stamp 0x11223344, "host", uid 1000, gid 100, gids [4, 24]; 32 bytes. */
const AUTH_SYS_BODY = hex(`
  11 22 33 44  00 00 00 04 68 6f 73 74  00 00 03 e8  00 00 00 64
  00 00 00 02 00 00 00 04 00 00 00 18`);

function concatChunks(chunks: Uint8Array[]): string {
  return Buffer.concat(chunks).toString("hex");
}

describe("record marking (RFC 5531 section 11)", () => {
  test("one last fragment", () => {
    const decoder = new RecordDecoder();
    decoder.push(hex("80 00 00 28"));
    decoder.push(NULL_CALL);
    expect(Buffer.from(decoder.next()!).equals(NULL_CALL)).toBe(true);
    expect(decoder.next()).toBeUndefined();
    expect(decoder.atRecordBoundary).toBe(true);
  });

  test("several fragments, fed one byte at a time, headers split across chunks", () => {
    const stream = Buffer.concat([
      hex("00 00 00 03 61 62 63"),
      hex("00 00 00 00"), // an empty, non-last fragment is legal
      hex("80 00 00 02 64 65"),
      hex("80 00 00 01 7a"),
    ]);
    const decoder = new RecordDecoder();
    const records: string[] = [];
    for (const byte of stream) {
      decoder.push(Uint8Array.of(byte));
      for (let r = decoder.next(); r; r = decoder.next()) records.push(Buffer.from(r).toString());
    }
    expect(records).toEqual(["abcde", "z"]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  test("a fragment header claiming 2 GiB fails at once, before its bytes", () => {
    const decoder = new RecordDecoder();
    decoder.push(hex("ff ff ff ff"));
    expect(() => decoder.next()).toThrow(RecordError);
    expect(decoder.bufferedBytes).toBe(0);
  });

  test("the record limit counts all fragments", () => {
    const half = RPC_RECORD_BYTES_MAX / 2;
    const decoder = new RecordDecoder();
    const header = new XdrWriter().uint32(half).toBuffer();
    decoder.push(header);
    decoder.push(Buffer.alloc(half));
    expect(decoder.next()).toBeUndefined();
    decoder.push(new XdrWriter().uint32(0x8000_0000 + half + 1).toBuffer());
    expect(() => decoder.next()).toThrow(/exceeds the limit/);
  });

  test("a record of exactly the limit is accepted", () => {
    const decoder = new RecordDecoder();
    decoder.push(new XdrWriter().uint32(0x8000_0000 + RPC_RECORD_BYTES_MAX).toBuffer());
    decoder.push(Buffer.alloc(RPC_RECORD_BYTES_MAX));
    expect(decoder.next()?.byteLength).toBe(RPC_RECORD_BYTES_MAX);
  });

  test("an owning decoder frees chunks once copied out, never one a record is a view of", () => {
    // Records of 6 bytes: "abcdef" spans chunks 1-2, "ghijkl" lies inside chunk 3 (a view of
    // it), "mnopqr" spans chunks 3-4.
    const chunks = [
      hex("80 00 00 06 61 62"),
      hex("63 64 65 66"),
      hex("80 00 00 06 67 68 69 6a 6b 6c 80 00 00 06 6d 6e"),
      hex("6f 70 71 72"),
    ].map((chunk) => Buffer.from(chunk)); // each its own ArrayBuffer, as a socket read is
    const decoder = new RecordDecoder(undefined, undefined, "owned");
    const records: Uint8Array[] = [];
    for (const chunk of chunks) {
      decoder.push(chunk);
      for (let r = decoder.next(); r; r = decoder.next()) records.push(r);
    }
    expect(records.map((r) => Buffer.from(r).toString())).toEqual(["abcdef", "ghijkl", "mnopqr"]);
    expect(decoder.freedChunks).toBe(3);
    expect(chunks.map((chunk) => chunk.byteLength)).toEqual([0, 0, 16, 0]);
    expect(Buffer.from(records[1]!).toString()).toBe("ghijkl"); // the view is intact

    // A borrowing decoder (the default) frees nothing.
    const borrowed = [hex("80 00 00 03 61"), hex("62 63")];
    const plain = new RecordDecoder();
    for (const chunk of borrowed) plain.push(chunk);
    expect(Buffer.from(plain.next()!).toString()).toBe("abc");
    expect(plain.freedChunks).toBe(0);
    expect(borrowed.map((chunk) => chunk.byteLength)).toEqual([5, 2]);
  });

  test("endless empty fragments are cut", () => {
    const decoder = new RecordDecoder();
    decoder.push(Buffer.alloc(4 * 2000));
    expect(() => decoder.next()).toThrow(/fragments/);
  });
});

describe("call header (RFC 5531 section 9)", () => {
  test("golden NULL call decodes", () => {
    const call = decodeCall(NULL_CALL);
    expect(call.kind).toBe("call");
    if (call.kind !== "call") return;
    expect([call.xid, call.prog, call.vers, call.proc]).toEqual([0x01020304, 100003, 3, 0]);
    expect(call.credentials).toEqual({ flavor: AuthFlavor.AUTH_NONE });
    expect(call.args.remainingBytes).toBe(0);
  });

  test("rpcvers 3 is RPC_MISMATCH 2..2", () => {
    const call = decodeCall(Buffer.concat([hex("00 00 00 07 00 00 00 00 00 00 00 03")]));
    expect(call).toEqual({
      kind: "reject",
      xid: 7,
      reply: { kind: "rpcMismatch", low: 2, high: 2 },
    });
  });

  test("a REPLY or a truncated header is ignored", () => {
    expect(decodeCall(NULL_REPLY).kind).toBe("ignore");
    expect(decodeCall(NULL_CALL.subarray(0, 18)).kind).toBe("ignore");
    expect(decodeCall(new Uint8Array()).kind).toBe("ignore");
  });

  test("a truncated or oversized credential is AUTH_BADCRED, a bad verifier AUTH_BADVERF", () => {
    const header = NULL_CALL.subarray(0, 24);
    const oversized = Buffer.concat([header, hex("00 00 00 01 00 00 01 94"), Buffer.alloc(404)]);
    const truncatedCred = Buffer.concat([header, hex("00 00 00 01 00 00 00 20 00 00")]);
    const truncatedVerf = Buffer.concat([header, hex("00 00 00 00 00 00 00 00 00 00 00 00")]);
    for (const [record, stat] of [
      [oversized, AuthStat.AUTH_BADCRED],
      [truncatedCred, AuthStat.AUTH_BADCRED],
      [truncatedVerf, AuthStat.AUTH_BADVERF],
    ] as const) {
      expect(decodeCall(record)).toEqual({
        kind: "reject",
        xid: 0x01020304,
        reply: { kind: "authError", stat },
      });
    }
  });
});

describe("credentials (RFC 5531 section 8.2, appendix A)", () => {
  const sys = { stamp: 0x11223344, machineName: "host", uid: 1000, gid: 100, groups: [4, 24] };

  test("AUTH_SYS golden body", () => {
    expect(Buffer.from(encodeAuthSys(sys).body).toString("hex")).toBe(
      AUTH_SYS_BODY.toString("hex"),
    );
    expect(decodeAuthSys(AUTH_SYS_BODY)).toEqual({ flavor: AuthFlavor.AUTH_SYS, ...sys });
  });

  test("malformed AUTH_SYS bodies are AUTH_BADCRED", () => {
    const bodies = [
      Buffer.concat([AUTH_SYS_BODY, hex("00 00 00 00")]), // trailing bytes
      AUTH_SYS_BODY.subarray(0, 28), // truncated
      new XdrWriter()
        .uint32(1)
        .string("x".repeat(256), 1000)
        .uint32(0)
        .uint32(0)
        .uint32(0)
        .toBuffer(),
      new XdrWriter().uint32(1).string("h", 255).uint32(0).uint32(0).uint32(17).toBuffer(),
    ];
    for (const body of bodies) {
      expect(parseCredentials({ flavor: AuthFlavor.AUTH_SYS, body }, AUTH_NONE_EMPTY)).toEqual({
        ok: false,
        authStat: AuthStat.AUTH_BADCRED,
      });
    }
  });

  test("flavor policy", () => {
    const stat = (flavor: number, verfFlavor = 0) => {
      const result = parseCredentials(
        { flavor, body: flavor === 1 ? AUTH_SYS_BODY : new Uint8Array() },
        { flavor: verfFlavor, body: new Uint8Array() },
      );
      return result.ok ? AuthStat.AUTH_OK : result.authStat;
    };
    expect(stat(AuthFlavor.AUTH_NONE)).toBe(AuthStat.AUTH_OK);
    expect(stat(AuthFlavor.AUTH_SYS)).toBe(AuthStat.AUTH_OK);
    expect(stat(AuthFlavor.AUTH_SHORT)).toBe(AuthStat.AUTH_REJECTEDCRED);
    expect(stat(AuthFlavor.AUTH_DH)).toBe(AuthStat.AUTH_BADCRED);
    expect(stat(AuthFlavor.RPCSEC_GSS)).toBe(AuthStat.AUTH_BADCRED);
    expect(stat(12345)).toBe(AuthStat.AUTH_BADCRED);
    expect(stat(AuthFlavor.AUTH_SYS, AuthFlavor.AUTH_SYS)).toBe(AuthStat.AUTH_BADVERF);
  });
});

describe("reply encoding (RFC 5531 section 9)", () => {
  const golden: [string, Parameters<typeof encodeReplyRecord>[1], string][] = [
    ["SUCCESS, void", { kind: "success", body: VOID_RESULT }, NULL_REPLY.toString("hex")],
    [
      "SUCCESS with results",
      { kind: "success", body: new XdrWriter().uint32(2049) },
      "01020304 00000001 00000000 00000000 00000000 00000000 00000801",
    ],
    [
      "PROG_MISMATCH 2..4",
      { kind: "progMismatch", low: 2, high: 4 },
      "01020304 00000001 00000000 00000000 00000000 00000002 00000002 00000004",
    ],
    [
      "GARBAGE_ARGS",
      { kind: "acceptError", stat: AcceptStat.GARBAGE_ARGS },
      "01020304 00000001 00000000 00000000 00000000 00000004",
    ],
    [
      "RPC_MISMATCH 2..2",
      { kind: "rpcMismatch", low: 2, high: 2 },
      "01020304 00000001 00000001 00000000 00000002 00000002",
    ],
    [
      "AUTH_ERROR AUTH_TOOWEAK",
      { kind: "authError", stat: AuthStat.AUTH_TOOWEAK },
      "01020304 00000001 00000001 00000001 00000005",
    ],
  ];
  for (const [name, reply, body] of golden) {
    test(name, () => {
      const bodyHex = body.replace(/\s+/g, "");
      const mark = (0x8000_0000 + bodyHex.length / 2).toString(16);
      expect(concatChunks(encodeReplyRecord(0x01020304, reply))).toBe(mark + bodyHex);
      const decoded = decodeReply(hex(bodyHex));
      expect(decoded.xid).toBe(0x01020304);
      expect(decoded.reply.kind).toBe(reply.kind);
    });
  }

  test("results written with headroom leave as one chunk, byte for byte the generic reply", () => {
    const fill = (w: XdrWriter) =>
      w
        .uint32(0)
        .opaqueVar(Buffer.from("abcde"), 8)
        .uhyper(1n << 40n);
    const generic = concatChunks(
      encodeReplyRecord(7, { kind: "success", body: fill(new XdrWriter()) }),
    );
    const chunks = encodeReplyRecord(7, { kind: "success", body: fill(resultsWriter()) });
    expect(chunks).toHaveLength(1);
    expect(concatChunks(chunks)).toBe(generic);
    // Results that outgrow their first scratch, or start with a borrowed opaque.
    for (const lengthBytes of [300, 5000, 70_000]) {
      const data = Buffer.alloc(lengthBytes, 3);
      const grown = (w: XdrWriter) => w.uint32(1).opaqueVar(data, lengthBytes).uint32(2);
      const borrowedFirst = (w: XdrWriter) => w.raw(data.subarray(0, lengthBytes & ~3)).uint32(9);
      for (const write of [grown, borrowedFirst]) {
        const want = concatChunks(
          encodeReplyRecord(8, { kind: "success", body: write(new XdrWriter(4)) }),
        );
        const got = encodeReplyRecord(8, { kind: "success", body: write(resultsWriter(4)) });
        expect(concatChunks(got)).toBe(want);
      }
    }
    // Not XDR: refused before anything is sent, as in the generic path.
    const odd = resultsWriter();
    odd.raw(Buffer.alloc(4));
    expect(() => odd.prepend(Buffer.alloc(6))).toThrow();
  });

  test("a 1 MiB body is not copied into the reply", () => {
    const data = Buffer.alloc(1024 * 1024, 9);
    const chunks = encodeReplyRecord(1, {
      kind: "success",
      body: new XdrWriter().uint32(0).opaqueVar(data, data.length),
    });
    expect(chunks.some((chunk) => chunk === data)).toBe(true);
  });
});

describe("dispatcher", () => {
  const logged: string[] = [];
  const note = (message: unknown) => logged.push(String(message));
  const log: RpcLogger = { error: note, warn: note, info: note, debug: note };
  const dispatcher = new Dispatcher({ log });
  const program = (vers: number) => ({
    name: "TEST",
    prog: 400_000,
    vers,
    procedures: [
      procedure("NULL", voidArgs, () => VOID_RESULT),
      procedure(
        "ADD",
        (r) => [r.uint32(), r.uint32()] as const,
        (_call, [a, b]) => new XdrWriter().uint32(a + b),
      ),
      procedure("BOOM", voidArgs, () => {
        throw new Error("kaboom");
      }),
      procedure("DENY", voidArgs, () => {
        throw RpcError.authError(AuthStat.AUTH_TOOWEAK);
      }),
    ],
  });
  dispatcher.register(program(2));
  dispatcher.register(program(4));

  const call = (prog: number, vers: number, proc: number): RpcCall => ({
    xid: 1,
    prog,
    vers,
    proc,
    credentials: { flavor: AuthFlavor.AUTH_NONE },
    client: { address: "127.0.0.1", port: 1000, family: "IPv4" },
    localPort: 2049,
  });
  const args = (...words: number[]) =>
    new XdrReader(words.reduce((w, v) => w.uint32(v), new XdrWriter()).toBuffer());

  test("registering a (prog, vers) twice is a bug", () => {
    expect(() => dispatcher.register(program(2))).toThrow(/twice/);
  });

  test("success", async () => {
    const reply = await dispatcher.dispatch(call(400_000, 2, 1), args(40, 2));
    if (reply.kind !== "success" || !(reply.body instanceof XdrWriter))
      throw new Error("no result");
    expect(new XdrReader(reply.body.toBuffer()).uint32()).toBe(42);
  });

  test("accept_stat rules", async () => {
    expect(await dispatcher.dispatch(call(1, 2, 0), args())).toEqual({
      kind: "acceptError",
      stat: AcceptStat.PROG_UNAVAIL,
    });
    expect(await dispatcher.dispatch(call(400_000, 3, 0), args())).toEqual({
      kind: "progMismatch",
      low: 2,
      high: 4,
    });
    expect(await dispatcher.dispatch(call(400_000, 2, 9), args())).toEqual({
      kind: "acceptError",
      stat: AcceptStat.PROC_UNAVAIL,
    });
    // Short arguments, and trailing bytes after them, are both garbage.
    for (const bad of [args(1), args(1, 2, 3)]) {
      expect(await dispatcher.dispatch(call(400_000, 2, 1), bad)).toEqual({
        kind: "acceptError",
        stat: AcceptStat.GARBAGE_ARGS,
      });
    }
    expect(await dispatcher.dispatch(call(400_000, 4, 3), args())).toEqual({
      kind: "authError",
      stat: AuthStat.AUTH_TOOWEAK,
    });
  });

  test("an exception is SYSTEM_ERR, and logged", async () => {
    logged.length = 0;
    expect(await dispatcher.dispatch(call(400_000, 2, 2), args())).toEqual({
      kind: "acceptError",
      stat: AcceptStat.SYSTEM_ERR,
    });
    expect(logged.join("\n")).toContain("kaboom");
  });
});
