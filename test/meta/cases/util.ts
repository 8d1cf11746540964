import { expect } from "bun:test";
import { FsError } from "../../../src/errors.ts";
import type { Credentials } from "../../../src/meta/interface.ts";
import { Errno, type ErrnoName } from "../../../src/posix.ts";

export const n = (s: string): Buffer => Buffer.from(s);

export const root: Credentials = { uid: 0, gid: 0, groups: [], pid: 1 };
export const alice: Credentials = { uid: 1000, gid: 1000, groups: [], pid: 2 };
export const bob: Credentials = { uid: 1001, gid: 1001, groups: [1000], pid: 3 };
export const carol: Credentials = { uid: 1002, gid: 1002, groups: [], pid: 4 };

export async function expectErrno(p: Promise<unknown>, name: ErrnoName): Promise<void> {
  try {
    await p;
  } catch (error) {
    if (!(error instanceof FsError)) throw error;
    expect(error.errno === Errno[name] ? name : error.message).toBe(name);
    return;
  }
  throw new Error(`expected ${name}, but the call succeeded`);
}
