/**
 * `jfs --version` without loading the CLI: imported first by main.ts, so it runs before any
 * other module is evaluated. Only the exact lone flag takes this path (anything else, such as
 * `jfs version --json`, goes through cac), and it prints the very line cac's path prints.
 */
import { versionLine } from "../version.ts";

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-v" || args[0] === "version")) {
  console.log(versionLine());
  process.exit(0);
}
