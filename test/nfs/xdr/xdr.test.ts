import { describe, expect, test } from "bun:test";
import { XdrError } from "../../../nfs/xdr/error.ts";
import { XdrReader } from "../../../nfs/xdr/reader.ts";
import { XdrWriter } from "../../../nfs/xdr/writer.ts";

/** "00 00 00 01 ..." → bytes; golden values are written out by hand from RFC 4506 section 4. */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ""), "hex");
}

function encode(write: (w: XdrWriter) => void): Buffer {
  const writer = new XdrWriter();
  write(writer);
  return writer.toBuffer();
}

describe("XDR golden bytes (RFC 4506 section 4)", () => {
  const cases: [string, (w: XdrWriter) => void, string, (r: XdrReader) => unknown, unknown][] = [
    ["int -2", (w) => w.int32(-2), "ff ff ff fe", (r) => r.int32(), -2],
    ["int max", (w) => w.int32(0x7fffffff), "7f ff ff ff", (r) => r.int32(), 0x7fffffff],
    ["uint", (w) => w.uint32(0xdeadbeef), "de ad be ef", (r) => r.uint32(), 0xdeadbeef],
    ["hyper -1", (w) => w.hyper(-1n), "ff ff ff ff ff ff ff ff", (r) => r.hyper(), -1n],
    [
      "uhyper",
      (w) => w.uhyper(0x0102030405060708n),
      "01 02 03 04 05 06 07 08",
      (r) => r.uhyper(),
      0x0102030405060708n,
    ],
    [
      "uhyper max",
      (w) => w.uhyper(2n ** 64n - 1n),
      "ff".repeat(8),
      (r) => r.uhyper(),
      2n ** 64n - 1n,
    ],
    ["bool true", (w) => w.bool(true), "00 00 00 01", (r) => r.bool(), true],
    ["bool false", (w) => w.bool(false), "00 00 00 00", (r) => r.bool(), false],
    [
      "fixed opaque[3]",
      (w) => w.opaqueFixed(hex("010203"), 3),
      "01 02 03 00",
      (r) => [...r.opaqueFixed(3)],
      [1, 2, 3],
    ],
    [
      "opaque<> of 5",
      (w) => w.opaqueVar(hex("0102030405"), 8),
      "00 00 00 05 01 02 03 04 05 00 00 00",
      (r) => [...r.opaqueVar(8)],
      [1, 2, 3, 4, 5],
    ],
    [
      "empty opaque",
      (w) => w.opaqueVar(hex(""), 8),
      "00 00 00 00",
      (r) => r.opaqueVar(8).length,
      0,
    ],
    [
      "string abc",
      (w) => w.string("abc", 255),
      "00 00 00 03 61 62 63 00",
      (r) => r.string(255),
      "abc",
    ],
    [
      "string of 4 (no padding)",
      (w) => w.string("host", 255),
      "00 00 00 04 68 6f 73 74",
      (r) => r.string(255),
      "host",
    ],
    [
      "optional absent",
      (w) => w.optional(undefined, (x, v: number) => x.uint32(v)),
      "00 00 00 00",
      (r) => r.optional((x) => x.uint32()),
      undefined,
    ],
    [
      "optional present",
      (w) => w.optional(7, (x, v) => x.uint32(v)),
      "00 00 00 01 00 00 00 07",
      (r) => r.optional((x) => x.uint32()),
      7,
    ],
    [
      "array<2>",
      (w) => w.arrayVar([1, 2], 16, (x, v) => x.uint32(v)),
      "00 00 00 02 00 00 00 01 00 00 00 02",
      (r) => r.arrayVar(16, (x) => x.uint32()),
      [1, 2],
    ],
    [
      "list (optional-data chain)",
      (w) => w.list([1, 2], (x, v) => x.uint32(v)),
      "00 00 00 01 00 00 00 01 00 00 00 01 00 00 00 02 00 00 00 00",
      (r) => r.list(16, (x) => x.uint32()),
      [1, 2],
    ],
  ];

  for (const [name, write, bytes, read, value] of cases) {
    test(name, () => {
      expect(encode(write).toString("hex")).toBe(hex(bytes).toString("hex"));
      const reader = new XdrReader(hex(bytes));
      expect(read(reader)).toEqual(value);
      reader.assertConsumed();
    });
  }
});

describe("XDR reader refuses bad input with XdrError", () => {
  const bad: [string, string, (r: XdrReader) => unknown][] = [
    ["short int", "00 00 01", (r) => r.int32()],
    ["short hyper", "00 00 00 00 00 00 01", (r) => r.hyper()],
    ["bool 2", "00 00 00 02", (r) => r.bool()],
    ["opaque over max", "00 00 00 09" + "00".repeat(12), (r) => r.opaqueVar(8)],
    ["opaque claiming 4 GiB", "ff ff ff ff", (r) => r.opaqueVar(2 ** 32)],
    ["opaque short", "00 00 00 05 01 02 03 04", (r) => r.opaqueVar(8)],
    ["opaque missing padding", "00 00 00 05 01 02 03 04 05", (r) => r.opaqueVar(8)],
    ["non-zero padding", "00 00 00 05 01 02 03 04 05 00 01 00", (r) => r.opaqueVar(8)],
    ["fixed opaque non-zero padding", "01 02 03 04 05 00 00 07", (r) => r.opaqueFixed(5)],
    ["string over max", "00 00 00 04 61 62 63 64", (r) => r.string(3)],
    ["string invalid UTF-8", "00 00 00 02 c3 28 00 00", (r) => r.string(8)],
    ["array over max", "00 00 00 11", (r) => r.arrayVar(16, (x) => x.uint32())],
    ["array beyond record", "00 00 00 10 00 00 00 01", (r) => r.arrayVar(16, (x) => x.uint32())],
    [
      "list over max",
      "00 00 00 01 00 00 00 05 00 00 00 01 00 00 00 06 00 00 00 00",
      (r) => r.list(1, (x) => x.uint32()),
    ],
    ["list without end", "00 00 00 01 00 00 00 05", (r) => r.list(4, (x) => x.uint32())],
    ["enum outside its set", "00 00 00 03", (r) => r.enumValue(new Set([0, 1, 2]), "ftype")],
    [
      "trailing bytes",
      "00 00 00 01 00 00 00 02",
      (r) => {
        r.uint32();
        r.assertConsumed();
      },
    ],
  ];
  for (const [name, bytes, read] of bad) {
    test(name, () => {
      expect(() => read(new XdrReader(hex(bytes)))).toThrow(XdrError);
    });
  }

  test("a length over max is refused before the bytes are even looked for", () => {
    expect(() => new XdrReader(hex("7f ff ff ff")).opaqueVar(1024)).toThrow(/exceeds max 1024/);
  });

  test("opaque is a view of the record, not a copy", () => {
    const record = hex("00 00 00 04 01 02 03 04");
    const data = new XdrReader(record).opaqueVar(4);
    expect(data.buffer).toBe(record.buffer);
    expect(data.byteOffset).toBe(record.byteOffset + 4);
  });

  test("reads from a view with a non-zero offset", () => {
    const backing = hex("aa bb cc dd 00 00 00 2a");
    expect(new XdrReader(backing.subarray(4)).uint32()).toBe(42);
  });
});

describe("XDR writer", () => {
  test("out-of-range values are bugs, asserted", () => {
    expect(() => new XdrWriter().uint32(-1)).toThrow();
    expect(() => new XdrWriter().uint32(2 ** 32)).toThrow();
    expect(() => new XdrWriter().int32(2 ** 31)).toThrow();
    expect(() => new XdrWriter().uint32(1.5)).toThrow();
    expect(() => new XdrWriter().uhyper(-1n)).toThrow();
    expect(() => new XdrWriter().hyper(2n ** 63n)).toThrow();
    expect(() => new XdrWriter().opaqueVar(new Uint8Array(9), 8)).toThrow();
    expect(() => new XdrWriter().raw(new Uint8Array(3))).toThrow();
  });

  test("a large opaque is borrowed, not copied, and padded", () => {
    const data = Buffer.alloc(1024 * 1024 + 3, 7);
    const writer = new XdrWriter();
    writer
      .uint32(1)
      .opaqueVar(data, 2 * 1024 * 1024)
      .uint32(2);
    const chunks = writer.chunks();
    expect(chunks.some((chunk) => chunk === data)).toBe(true);
    expect(writer.lengthBytes).toBe(4 + 4 + data.length + 1 + 4);
    const reader = new XdrReader(writer.toBuffer());
    expect(reader.uint32()).toBe(1);
    expect(reader.opaqueVar(2 * 1024 * 1024).equals(data)).toBe(true);
    expect(reader.uint32()).toBe(2);
    reader.assertConsumed();
  });

  test("grows across many writes without losing bytes", () => {
    const writer = new XdrWriter(4);
    const count = 100_000;
    for (let i = 0; i < count; i++) {
      writer.uint32(i);
      if (i % 1000 === 0) writer.string(`name-${i}`, 255);
    }
    const reader = new XdrReader(writer.toBuffer());
    for (let i = 0; i < count; i++) {
      expect(reader.uint32()).toBe(i);
      if (i % 1000 === 0) expect(reader.string(255)).toBe(`name-${i}`);
    }
    reader.assertConsumed();
  });

  test("append keeps order and borrows large chunks; patchUint32 rewrites in place", () => {
    const big = Buffer.alloc(8192, 1);
    const body = new XdrWriter().uint32(5).opaqueFixed(big, 8192).uint32(6);
    const outer = new XdrWriter().uint32(0).append(body);
    outer.patchUint32(0, 0xcafe);
    expect(outer.chunks().some((chunk) => chunk === big)).toBe(true);
    const reader = new XdrReader(outer.toBuffer());
    expect(reader.uint32()).toBe(0xcafe);
    expect(reader.uint32()).toBe(5);
    expect(reader.opaqueFixed(8192).equals(big)).toBe(true);
    expect(reader.uint32()).toBe(6);
    reader.assertConsumed();
  });

  test("round-trips random values", () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    const values = Array.from({ length: 1000 }, () => ({
      i: (random() | 0) as number,
      u: random(),
      h: (BigInt(random()) << 32n) | BigInt(random()),
      bytes: Buffer.from(Array.from({ length: random() % 40 }, () => random() & 0xff)),
    }));
    const writer = new XdrWriter();
    for (const v of values) writer.int32(v.i).uint32(v.u).uhyper(v.h).opaqueVar(v.bytes, 64);
    const reader = new XdrReader(writer.toBuffer());
    for (const v of values) {
      expect(reader.int32()).toBe(v.i);
      expect(reader.uint32()).toBe(v.u);
      expect(reader.uhyper()).toBe(v.h);
      expect(reader.opaqueVar(64).equals(v.bytes)).toBe(true);
    }
    reader.assertConsumed();
  });
});

describe("XdrWriter.append", () => {
  test("a borrowed opaque of unaligned length appends whole, padding included", () => {
    const inner = new XdrWriter();
    const data = Buffer.alloc(4097, 0xab);
    inner.uint32(7).opaqueVar(data, 8192);
    const outer = new XdrWriter().uint32(1).append(inner);
    const bytes = outer.toBuffer();
    expect(bytes.length).toBe(4 + 4 + 4 + 4097 + 3);
    expect(bytes.readUInt32BE(8)).toBe(4097);
    expect(bytes.subarray(12, 12 + 4097).equals(data)).toBe(true);
    expect([...bytes.subarray(12 + 4097)]).toEqual([0, 0, 0]);
  });
});
