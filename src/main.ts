#!/usr/bin/env bun
/**
 * jfs command line. User errors print one line and exit 1; bugs print their stack and exit 2.
 */
import { cac } from "cac";
import { registerBench } from "./cli/bench.ts";
import { registerConfig } from "./cli/config.ts";
import { registerDestroy } from "./cli/destroy.ts";
import { registerDump } from "./cli/dump.ts";
import { registerFormat } from "./cli/format.ts";
import { registerFsck } from "./cli/fsck.ts";
import { registerGc } from "./cli/gc.ts";
import { registerMount } from "./cli/mount.ts";
import { registerObjbench } from "./cli/objbench.ts";
import { registerServe } from "./cli/serve.ts";
import { registerStatus } from "./cli/status.ts";
import { registerWarmup } from "./cli/warmup.ts";
import { describeError, FsError, UserError } from "./errors.ts";
import { log, setLogLevel } from "./log.ts";
import { ObjectStoreError } from "./object/interface.ts";
import { VERSION } from "./version.ts";

export function buildCli() {
  const cli = cac("jfs");
  cli.option("--verbose", "Show debug logs");
  cli.option("--quiet", "Show only errors");
  registerFormat(cli);
  registerStatus(cli);
  registerConfig(cli);
  registerDestroy(cli);
  registerMount(cli);
  registerServe(cli);
  registerBench(cli);
  registerObjbench(cli);
  registerWarmup(cli);
  registerGc(cli);
  registerFsck(cli);
  registerDump(cli);
  cli.help();
  cli.version(VERSION);
  return cli;
}

function isUserFacing(error: unknown): boolean {
  return (
    error instanceof UserError || error instanceof FsError || error instanceof ObjectStoreError
  );
}

export async function main(argv: string[]): Promise<number> {
  const cli = buildCli();
  try {
    const parsed = cli.parse(argv, { run: false });
    setLogLevel(parsed.options as { verbose?: boolean; quiet?: boolean });
    if (parsed.options.help || parsed.options.version) return 0;
    if (!cli.matchedCommand) {
      const name = parsed.args[0];
      if (name === undefined) {
        cli.outputHelp();
        return 0;
      }
      throw new UserError(`unknown command "${name}" (see jfs --help)`);
    }
    await cli.runMatchedCommand();
    return 0;
  } catch (error) {
    if (isUserFacing(error) || (error instanceof Error && error.name === "CACError")) {
      // One line, no stack: the user can act on it.
      process.stderr.write(`jfs: ${describeError(error)}\n`);
      return 1;
    }
    log.error(error);
    return 2;
  }
}

if (import.meta.main) {
  const code = await main(process.argv);
  process.exit(code);
}
