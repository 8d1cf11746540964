#!/usr/bin/env bun
/**
 * jfs command line. User errors print one line and exit 1; bugs print their stack and exit 2.
 */
// First: `jfs --version` answers and exits here, before the rest of the CLI is even loaded.
import "./cli/fastpath.ts";
import { cac } from "cac";
import { actionArgs, parseLine } from "./cli/args.ts";
import { registerBench } from "./cli/bench.ts";
import { registerConfig } from "./cli/config.ts";
import { registerDestroy } from "./cli/destroy.ts";
import { registerDump } from "./cli/dump.ts";
import { registerFormat } from "./cli/format.ts";
import { registerFsck } from "./cli/fsck.ts";
import { registerGateway } from "./cli/gateway.ts";
import { registerGc } from "./cli/gc.ts";
import { registerInfo } from "./cli/info.ts";
import { registerMount } from "./cli/mount.ts";
import { registerObjbench } from "./cli/objbench.ts";
import { registerQuota } from "./cli/quota.ts";
import { registerRestore } from "./cli/restore.ts";
import { registerRmr } from "./cli/rmr.ts";
import { registerServe } from "./cli/serve.ts";
import { registerStats } from "./cli/stats.ts";
import { registerStatus } from "./cli/status.ts";
import { registerSummary } from "./cli/summary.ts";
import { registerVersion } from "./cli/version.ts";
import { registerWarmup } from "./cli/warmup.ts";
import { describeError, FsError, UserError } from "./errors.ts";
import { log, setLogLevel } from "./log.ts";
import { ObjectStoreError } from "./object/interface.ts";
import { versionLine } from "./version.ts";

export function buildCli() {
  const cli = cac("jfs");
  cli.option("--verbose", "Show debug logs");
  cli.option("--quiet", "Show only errors");
  registerFormat(cli);
  registerStatus(cli);
  registerStats(cli);
  registerConfig(cli);
  registerDestroy(cli);
  registerMount(cli);
  registerServe(cli);
  registerGateway(cli);
  registerBench(cli);
  registerObjbench(cli);
  registerWarmup(cli);
  registerGc(cli);
  registerRestore(cli);
  registerRmr(cli);
  registerQuota(cli);
  registerFsck(cli);
  registerInfo(cli);
  registerSummary(cli);
  registerDump(cli);
  registerVersion(cli);
  cli.help();
  // Not cac's version(): it prints "node-v26" (Bun's Node-compat level) where Bun's version belongs.
  cli.option("-v, --version", "Show the version, commit, target and Bun version");
  return cli;
}

/**
 * An error of the system, not of jfs: a Node system error (EROFS, EACCES, ENOSPC, with the
 * syscall and path in its message) or SQLite's (SQLITE_READONLY, SQLITE_FULL). A read-only
 * directory or a full disk is the user's to fix; a stack trace would only hide the message.
 */
function isSystemError(error: unknown): boolean {
  // Or caused by one: an object store that gave up retrying ECONNREFUSED wraps it.
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++, e = e.cause) {
    const code = "code" in e ? e.code : undefined;
    if (typeof code === "string" && (/^E[A-Z0-9]+$/.test(code) || code.startsWith("SQLITE_"))) {
      return true;
    }
  }
  return false;
}

function isUserFacing(error: unknown): boolean {
  return (
    error instanceof UserError ||
    error instanceof FsError ||
    error instanceof ObjectStoreError ||
    isSystemError(error)
  );
}

export async function main(argv: string[]): Promise<number> {
  const cli = buildCli();
  let command: string | undefined;
  try {
    const line = parseLine(cli, argv.slice(2));
    setLogLevel(line.options as { verbose?: boolean; quiet?: boolean });
    if (line.command !== undefined) cli.matchedCommand = line.command;
    command = line.command?.name;
    if (line.options.help === true) {
      cli.outputHelp();
      return 0;
    }
    if (line.options.version === true) {
      console.log(versionLine());
      return 0;
    }
    if (line.command === undefined) {
      if (line.commandName === undefined) {
        cli.outputHelp();
        return 0;
      }
      throw new UserError(`unknown command "${line.commandName}" (see jfs --help)`);
    }
    const action = line.command.commandAction;
    if (action === undefined) throw new Error(`command ${line.command.name} has no action`);
    await action(...actionArgs(line.command, line.args), line.options);
    return 0;
  } catch (error) {
    if (isUserFacing(error)) {
      // One line, no stack: the user can act on it.
      const what = isSystemError(error) && command !== undefined ? `${command} failed: ` : "";
      process.stderr.write(`jfs: ${what}${describeError(error)}\n`);
      return 1;
    }
    log.error(error);
    return 2;
  }
}

if (import.meta.main) {
  // A command that runs until told to stop must hold a ref'd handle while it waits (a
  // listening socket, FuseChannel's keep-alive timer): with none, Bun 1.4 busy-polls on this
  // pending await (oven-sh/bun#14951) and Node would exit 13.
  const code = await main(process.argv);
  process.exit(code);
}
