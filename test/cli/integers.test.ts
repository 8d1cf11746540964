/**
 * Strict numbers: every numeric flag of every command refuses "", 0x10, 1e3, 12abc and -5 with
 * one line naming the flag, before anything is opened. The flags come from the command table
 * (their placeholder says they are numbers), so a new one is covered without touching this file.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseIntFlag, parseNumberFlag } from "../../src/cli/options.ts";
import { buildCli } from "../../src/main.ts";
import { jfs } from "./harness.ts";

const NUMERIC = /<(n|port|uid|gid|count|days|sec|seconds|ratio|KiB|MiB|GiB)>/;
const BAD = ["", "0x10", "1e3", "12abc", "-5"];

const dir = mkdtempSync(join(tmpdir(), "jfs-ints-"));
// HOME is a file: a command that got past its flags cannot fall back to a default volume.
const home = join(dir, "home-is-a-file");
writeFileSync(home, "");
const bucket = join(dir, "data");
const formatted = `sqlite3://${dir}/formatted.db`;
const unformatted = `sqlite3://${dir}/unformatted.db`;
let fresh = 0;

/** Positionals that get each command to its flag checks. */
function positionals(command: string): string[] {
  const mnt = join(dir, `mnt-${fresh}`);
  mkdirSync(mnt, { recursive: true });
  const table: Record<string, string[]> = {
    format: [`sqlite3://${dir}/fresh-${fresh++}.db`, "vol"],
    config: [formatted],
    mount: [unformatted, mnt],
    warmup: [unformatted, "/"],
    quota: ["set", unformatted],
    objbench: [],
  };
  return table[command] ?? [unformatted];
}

/** Flags a command needs besides the one under test. */
function companions(command: string): string[] {
  if (command === "serve") return ["--nfs"];
  if (command === "quota") return ["--path", "/"];
  if (command === "objbench" || command === "format") return ["--bucket", bucket];
  return [];
}

const cli = buildCli();
/** A flag shared by several commands through one declaration (the data-path flags) once. */
const seen = new Set<string>();
const cases = cli.commands.flatMap((command) =>
  command.options
    .filter((o) => NUMERIC.test(o.rawName))
    .filter((o) => !seen.has(o.rawName + o.description) && seen.add(o.rawName + o.description))
    .map((o, i) => ({
      command: command.name,
      flag: o.rawName.replace(/[ <].*$/, ""),
      // One bad value per flag, rotating, keeps the child processes few.
      value: BAD[i % BAD.length]!,
    })),
);

beforeAll(async () => {
  const r = await jfs(["format", formatted, "vol", "--bucket", bucket], { HOME: home });
  expect(r.code).toBe(0);
});

describe("every numeric flag, through the real CLI", () => {
  test("the table has the flags of issue 18", () => {
    expect(cases.length).toBeGreaterThan(20);
    expect(cases.some((c) => c.command === "serve" && c.flag === "--port")).toBe(true);
  });

  for (const c of cases) {
    test(`jfs ${c.command} ${c.flag} "${c.value}"`, async () => {
      const args = [c.command, ...companions(c.command), c.flag, c.value];
      const r = await jfs([...args, ...positionals(c.command)], { HOME: home }, undefined, 3000);
      expect(r.stderr.trim()).toStartWith(`jfs: ${c.flag} must be`);
      expect(r.stderr.trim()).toEndWith(`got "${c.value}"`);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.code).toBe(1);
    });
  }

  for (const value of BAD) {
    test(`jfs serve --nfs --port "${value}" is refused, not a random port`, async () => {
      const r = await jfs(
        ["serve", "--nfs", "--port", value, formatted],
        { HOME: home },
        undefined,
        3000,
      );
      expect(r.stdout).not.toContain("serving");
      expect(r.stderr.trim()).toBe(`jfs: --port must be an integer 0..65535, got "${value}"`);
      expect(r.code).toBe(1);
    });
  }
});

describe("the helpers", () => {
  test("integers are decimal digits only", () => {
    for (const text of ["", " 5", "5 ", "0x10", "1e3", "12abc", "1.0", "+5", "0b1", "Infinity"]) {
      expect(() => parseIntFlag("n", text, 0)).toThrow(
        `--n must be an integer >= 0, got "${text}"`,
      );
    }
    expect(() => parseIntFlag("n", "-5", 0, 9)).toThrow('--n must be an integer 0..9, got "-5"');
    expect(() => parseIntFlag("n", "9007199254740993", 0)).toThrow(/must be an integer/);
    expect(() => parseIntFlag("n", ["1", "2"], 0)).toThrow("--n was given 2 times: give it once");
    expect(parseIntFlag("n", "0", 0)).toBe(0);
    expect(parseIntFlag("n", "065535", 0)).toBe(65535);
    expect(parseIntFlag("n", "-5", -10)).toBe(-5);
    expect(parseIntFlag("n", 7, 0)).toBe(7);
  });

  test("numbers are decimals", () => {
    for (const text of ["", "0x1", "1e-1", ".5", "5.", "1/2"]) {
      expect(() => parseNumberFlag("r", text, 0, 1)).toThrow(/--r must be a number in 0..1/);
    }
    expect(parseNumberFlag("r", "0.25", 0, 1)).toBe(0.25);
    expect(parseNumberFlag("r", "1", 0, 1)).toBe(1);
  });
});
