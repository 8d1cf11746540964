/**
 * Logging through consola. Levels: --quiet shows only errors, default shows info, --verbose
 * shows debug. Nothing logged may contain a secret: format settings go through maskFormat().
 */
import { createConsola } from "consola";

export const log = createConsola({ level: 3, formatOptions: { date: false } });

export function setLogLevel(options: { verbose?: boolean; quiet?: boolean }): void {
  if (options.quiet) log.level = 1;
  else if (options.verbose) log.level = 4;
  else log.level = 3;
}
