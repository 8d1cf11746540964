/**
 * Flag order: every boolean flag of every command, before, between and after the positionals,
 * never takes a positional as its value. The list comes from the command table, so a new flag
 * is covered without touching this file. Then the same through the real CLI, end to end.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cac } from "cac";
import { parseLine } from "../../src/cli/args.ts";
import { fileDataOptions } from "../../src/cli/runtime.ts";
import { UserError } from "../../src/errors.ts";
import { buildCli } from "../../src/main.ts";
import { jfs } from "./harness.ts";

const cli = buildCli();

/** Sample positionals for a command: one per declared argument, two for a variadic one. */
function positionalsOf(command: (typeof cli.commands)[number]): string[] {
  return command.args.flatMap((a, i) =>
    a.variadic ? [`sqlite3:///tmp/x${i}.db`, `/tmp/dir${i}`] : [`word-${a.value}-${i}`],
  );
}

/** `-d, --background` -> ["-d", "--background"]. */
function spellings(rawName: string): string[] {
  return rawName
    .replace(/[<[].*$/, "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Every way to put `flag` among `words`: before all, between each, after all. */
function placements(flag: string, words: string[]): string[][] {
  return Array.from({ length: words.length + 1 }, (_, at) => [
    ...words.slice(0, at),
    flag,
    ...words.slice(at),
  ]);
}

describe("every boolean flag, anywhere among the positionals", () => {
  for (const command of cli.commands) {
    const booleans = [...cli.globalCommand.options, ...command.options].filter(
      (o) => o.isBoolean && o.name !== "help" && o.name !== "version",
    );
    test(`jfs ${command.name}: ${booleans.map((o) => o.rawName).join(" ")}`, () => {
      const words = positionalsOf(command);
      for (const option of booleans) {
        for (const flag of spellings(option.rawName)) {
          for (const line of placements(flag, words)) {
            const parsed = parseLine(cli, [command.name, ...line]);
            expect({ line, args: parsed.args }).toEqual({ line, args: words });
            // --no-x sets x to false.
            const value = !option.negated;
            expect({ line, value: parsed.options[option.name] }).toEqual({ line, value });
          }
        }
      }
    });
  }

  test("the table has the flags of issue 18", () => {
    const booleansOf = (name: string) =>
      cli.commands
        .find((c) => c.name === name)!
        .options.filter((o) => o.isBoolean)
        .map((o) => o.name);
    expect(booleansOf("mount")).toEqual(
      expect.arrayContaining(["background", "allowOther", "writebackCache", "writeback"]),
    );
    expect(booleansOf("serve")).toEqual(expect.arrayContaining(["nfs", "readOnly"]));
  });

  test("--cache-large-write: on every command with --cache-dir, off unless given", () => {
    const withCacheDir = cli.commands.filter((c) => c.options.some((o) => o.name === "cacheDir"));
    expect(withCacheDir.map((c) => c.name)).toEqual(expect.arrayContaining(["serve", "mount"]));
    for (const command of withCacheDir) {
      const option = command.options.find((o) => o.name === "cacheLargeWrite");
      expect({ command: command.name, boolean: option?.isBoolean }).toEqual({
        command: command.name,
        boolean: true,
      });
      const given = parseLine(cli, [
        command.name,
        ...positionalsOf(command),
        "--cache-large-write",
      ]);
      expect(fileDataOptions(given.options).cacheLargeWrite).toBe(true);
      const parsed = parseLine(cli, [command.name, ...positionalsOf(command)]);
      expect(fileDataOptions(parsed.options).cacheLargeWrite).toBeUndefined();
    }
    expect(() => fileDataOptions({ cacheDir: "memory", cacheLargeWrite: true })).toThrow(UserError);
  });

  test("global flags are booleans: the command name is the first other word", () => {
    for (const option of cli.globalCommand.options) expect(option.isBoolean).toBe(true);
  });
});

describe("negated booleans, as cac declares them", () => {
  const own = cac("jfs");
  own.command("serve [META-URL]", "").option("--no-root-squash", "").option("--nfs", "");

  test("--no-x is false when given, true (cac's default) when not", () => {
    const given = parseLine(own, ["serve", "--no-root-squash", "sqlite3://a.db"]);
    expect(given.options.rootSquash).toBe(false);
    expect(given.args).toEqual(["sqlite3://a.db"]);
    expect(parseLine(own, ["serve", "sqlite3://a.db"]).options.rootSquash).toBe(true);
  });

  test("--no-x of any boolean turns it off", () => {
    expect(parseLine(own, ["serve", "--no-nfs"]).options.nfs).toBe(false);
  });
});

describe("values are the words typed", () => {
  test("a value option takes the next word verbatim, even '', '-5' or '0x10'", () => {
    for (const value of ["", "-5", "0x10", "1e3", "12abc", "-"]) {
      const parsed = parseLine(cli, ["serve", "--port", value, "--nfs", "sqlite3://a.db"]);
      expect(parsed.options.port).toBe(value);
      expect(parsed.args).toEqual(["sqlite3://a.db"]);
      expect(parseLine(cli, ["serve", `--port=${value}`]).options.port).toBe(value);
    }
  });

  test("a value option followed by an option, or by nothing, is an error", () => {
    expect(() => parseLine(cli, ["serve", "--port", "--nfs"])).toThrow(/--port needs a value/);
    expect(() => parseLine(cli, ["serve", "--nfs", "--port"])).toThrow(/--port needs a value/);
  });

  test("unknown options and values given to booleans are refused", () => {
    expect(() => parseLine(cli, ["mount", "--allow-others", "a"])).toThrow(
      /unknown option --allow-others/,
    );
    expect(() => parseLine(cli, ["mount", "--allow-other=yes", "a"])).toThrow(/takes no value/);
  });

  test("repeated value options collect; '--' ends the options", () => {
    const parsed = parseLine(cli, ["serve", "--allow", "a", "--allow=b", "--", "--nfs"]);
    expect(parsed.options.allow).toEqual(["a", "b"]);
    expect(parsed.args).toEqual(["--nfs"]);
  });
});

describe("end to end: the volume named is the volume used", () => {
  // HOME is a file: opening the embedded default volume fails at once, so a flag that swallowed
  // the META-URL shows as an error about ~/.jfs instead of about the volume named.
  const dir = mkdtempSync(join(tmpdir(), "jfs-args-"));
  const home = join(dir, "home-is-a-file");
  writeFileSync(home, "");
  const mnt = join(dir, "mnt");
  mkdirSync(mnt);
  const url = `sqlite3://${dir}/named.db`;

  test("jfs mount -d --allow-other META-URL DIR opens META-URL", async () => {
    const r = await jfs(["mount", "-d", "--allow-other", url, mnt], { HOME: home });
    expect(r.stderr.trim()).toBe(
      `jfs: Cannot open volume "${url}": not formatted (run jfs format)`,
    );
    expect(r.code).toBe(1);
  });

  test("jfs serve --nfs --port 0 --read-only META-URL opens META-URL", async () => {
    const r = await jfs(["serve", "--nfs", "--port", "0", "--read-only", url], { HOME: home });
    expect(r.stderr.trim()).toBe(
      `jfs: Cannot open volume "${url}": not formatted (run jfs format)`,
    );
    expect(r.code).toBe(1);
  });
});
