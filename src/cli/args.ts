/**
 * The command line parser. cac declares the commands and prints help; the words are parsed
 * here, because cac's parser (mri) is wrong for us in three ways:
 * - it looks up booleans by their camelCase name, so a kebab-case boolean (`--allow-other`,
 *   `--read-only`) takes the next word as its value: `jfs mount --allow-other sqlite3://X DIR`
 *   mounted the default volume, silently;
 * - it turns values into numbers (`--port ""` was 0, `0x10` was 16, `1e3` was 1000);
 * - a value starting with '-' is an option, so `--port -5` said "Unknown option `-5`".
 *
 * Here a boolean never takes a value from the next word, a value option always takes the next
 * word (unless it is an option name), and every value stays the string the user typed.
 */
import type { CAC, Command } from "cac";
import { UserError } from "../errors.ts";

type CacOption = Command["options"][number];

export interface ParsedLine {
  /** The command named by the first positional word; undefined when none or unknown. */
  command: Command | undefined;
  /** The first positional word (the command name, even when no command has it). */
  commandName: string | undefined;
  /** Positional words after the command name, in order. */
  args: string[];
  /** Under every name of each option given (camelCase, as cac names them). */
  options: Record<string, unknown>;
}

/** `--allow-other` -> `allowOther`, as cac names options. */
function camelCase(name: string): string {
  return name.replace(/([a-z0-9])-([a-z])/g, (_, a: string, b: string) => a + b.toUpperCase());
}

/** A word that names an option rather than being a value: `-x`, `--x`, not `-5`, `-`, ``. */
export function isOptionWord(word: string): boolean {
  return /^--?[A-Za-z]/.test(word);
}

function optionsOf(cli: CAC, command: Command | undefined): CacOption[] {
  return [...cli.globalCommand.options, ...(command?.options ?? [])];
}

function findOption(options: CacOption[], name: string): CacOption | undefined {
  const key = camelCase(name);
  return options.find((o) => o.names.includes(key));
}

/** The index of the command name: the first word that is not a (global, boolean) option. */
function commandIndex(words: string[]): number {
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--") return i + 1 < words.length ? i + 1 : -1;
    if (!isOptionWord(word)) return i;
  }
  return -1;
}

class LineParser {
  readonly args: string[] = [];
  readonly options: Record<string, unknown> = {};

  constructor(
    private readonly options_: CacOption[],
    private readonly where: string,
  ) {}

  set(option: CacOption, value: unknown): void {
    const old = this.options[option.name];
    // A repeated value option collects its values (--allow a --allow b), as cac did.
    const next =
      old === undefined || option.isBoolean
        ? value
        : Array.isArray(old)
          ? [...old, value]
          : [old, value];
    for (const name of option.names) this.options[name] = next;
  }

  unknown(word: string): never {
    throw new UserError(`unknown option ${word} (see jfs ${this.where}--help)`);
  }

  /** Parses words[i] (an option word); returns how many words it used. */
  option(words: string[], i: number): number {
    const word = words[i]!;
    if (word.startsWith("--")) return this.long(words, i);
    // -abc: short booleans; the last one may take the next word as its value.
    const letters = word.slice(1);
    for (let k = 0; k < letters.length; k++) {
      const option = findOption(this.options_, letters[k]!);
      if (option === undefined) this.unknown(`-${letters[k]}`);
      if (option.isBoolean) {
        this.set(option, true);
        continue;
      }
      if (k < letters.length - 1) {
        throw new UserError(`option -${letters[k]} needs a value: put it last in ${word}`);
      }
      return 1 + this.value(option, `-${letters[k]}`, words, i);
    }
    return 1;
  }

  private long(words: string[], i: number): number {
    const word = words[i]!;
    const eq = word.indexOf("=");
    const name = word.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : word.slice(eq + 1);
    let option = findOption(this.options_, name);
    if (option === undefined && name.startsWith("no-") && inline === undefined) {
      // --no-writeback turns a boolean off; --no-metrics is declared beside --metrics <addr>.
      const key = camelCase(name.slice(3));
      const negated = this.options_.find((o) => o.negated && o.names.includes(key));
      const positive = negated ?? findOption(this.options_, name.slice(3));
      if (positive?.isBoolean) {
        this.set(positive, false);
        return 1;
      }
    }
    if (option === undefined) this.unknown(`--${name}`);
    option = option as CacOption;
    if (option.isBoolean) {
      if (inline === undefined || inline === "true") this.set(option, true);
      else if (inline === "false") this.set(option, false);
      else throw new UserError(`option --${name} takes no value, got "${inline}"`);
      return 1;
    }
    if (inline !== undefined) {
      this.set(option, inline);
      return 1;
    }
    return 1 + this.value(option, `--${name}`, words, i);
  }

  /** Takes words[i + 1] as the value of `option`; returns 1. */
  private value(option: CacOption, shown: string, words: string[], i: number): number {
    const next = words[i + 1];
    if (next === undefined || isOptionWord(next)) {
      throw new UserError(`option ${shown} needs a value (${option.rawName})`);
    }
    this.set(option, next);
    return 1;
  }
}

/**
 * Parses the words after the program name (`process.argv.slice(2)`) against the commands
 * declared on `cli`. Pure: it neither prints nor runs anything.
 */
export function parseLine(cli: CAC, words: string[]): ParsedLine {
  const at = commandIndex(words);
  const commandName = at < 0 ? undefined : words[at];
  const command =
    commandName === undefined ? undefined : cli.commands.find((c) => c.isMatched(commandName));
  const parser = new LineParser(
    optionsOf(cli, command),
    command === undefined ? "" : `${command.name} `,
  );
  let positionalOnly = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (i === at) continue;
    if (!positionalOnly && word === "--") {
      positionalOnly = true;
    } else if (!positionalOnly && isOptionWord(word)) {
      i += parser.option(words, i) - 1;
    } else {
      parser.args.push(word);
    }
  }
  // cac's defaults: a declared default, and true for a negated boolean (--no-root-squash).
  for (const option of optionsOf(cli, command)) {
    const value = option.config.default;
    if (value === undefined || parser.options[option.name] !== undefined) continue;
    for (const name of option.names) parser.options[name] = value;
  }
  return { command, commandName, args: parser.args, options: parser.options };
}

/** The arguments of `command`'s action, as cac passes them; checks how many were given. */
export function actionArgs(command: Command, args: string[]): unknown[] {
  const usage = `usage: jfs ${command.rawName} [options]`;
  const required = command.args.filter((a) => a.required).length;
  if (args.length < required) throw new UserError(`missing arguments (${usage})`);
  const variadic = command.args.some((a) => a.variadic);
  if (!variadic && args.length > command.args.length) {
    const extra = args.slice(command.args.length).map((a) => `"${a}"`);
    throw new UserError(`unexpected argument ${extra.join(", ")} (${usage})`);
  }
  return command.args.map((a, i) => (a.variadic ? args.slice(i) : args[i]));
}
