/**
 * Flag parsing shared by the subcommands: numbers with ranges, sizes, and the one-line errors
 * they give.
 */
import { UserError } from "../errors.ts";

/** Decimal digits only: no "", no 0x10, no 1e3, no 12abc, no " 5" (Number() takes them all). */
const INTEGER = /^-?[0-9]+$/;
const DECIMAL = /^-?[0-9]+(\.[0-9]+)?$/;

/** The one word a value flag was given: a repeated flag is an error, not its last value. */
function flagText(name: string, value: unknown): string {
  if (Array.isArray(value)) {
    throw new UserError(`--${name} was given ${value.length} times: give it once`);
  }
  return typeof value === "number" ? String(value) : String(value ?? "");
}

/**
 * The one integer parser of the CLI: counts, ports, ids, seconds, and sizes in the unit the
 * flag names (the caller multiplies: `--cache-size <MiB>`).
 */
export function parseIntFlag(
  name: string,
  value: unknown,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  const text = flagText(name, value);
  const n = INTEGER.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`;
    throw new UserError(`--${name} must be an integer ${range}, got "${text}"`);
  }
  return n;
}

/** A decimal number (ratios, seconds): digits with an optional fraction, nothing else. */
export function parseNumberFlag(name: string, value: unknown, min: number, max: number): number {
  const text = flagText(name, value);
  const n = DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UserError(`--${name} must be a number in ${min}..${max}, got "${text}"`);
  }
  return n;
}

export function parseChoiceFlag<T extends string>(
  name: string,
  value: unknown,
  choices: readonly T[],
): T {
  const s = String(value);
  if (!(choices as readonly string[]).includes(s)) {
    throw new UserError(`--${name} must be one of ${choices.join(", ")}, got "${s}"`);
  }
  return s as T;
}

/** A flag's string value; cac gives numbers for numeric-looking strings. */
export function stringFlag(value: unknown): string | undefined {
  if (value === undefined || value === null || value === true || value === false) return undefined;
  return String(value);
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
