/**
 * jfs summary [META-URL] PATH — a tree of what takes the space under a directory, like
 * `juicefs summary`: each entry's size, directories and files, down to `--depth` levels, each
 * directory's `--entries` biggest entries shown and the rest folded into "...". PATH as for
 * `jfs info` (on a mount; or `--path /x`, `--inode N` inside the volume).
 */
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { FileType } from "../meta/interface.ts";
import { pruneTree, type TreeNode, usageTree } from "../volume/info.ts";
import { openForInfo, parseTargets, resolveTarget, type TargetFlags, TYPE_NAMES } from "./info.ts";
import { formatBytes, parseIntFlag } from "./options.ts";
import { Progress, table } from "./progress.ts";

const DEPTH_DEFAULT = 2;
const ENTRIES_DEFAULT = 10;
/** A deeper tree is a walk of everything with a node per entry: --depth stops well before. */
const DEPTH_MAX = 64;

interface SummaryFlags extends TargetFlags {
  depth?: unknown;
  entries?: unknown;
}

/** Rows of the tree, parents before children, names drawn as a tree (├── └── │). */
function treeRows(top: TreeNode): string[][] {
  const rows: string[][] = [];
  const stack: Array<{ node: TreeNode; lead: string; last: boolean; root: boolean }> = [
    { node: top, lead: "", last: true, root: true },
  ];
  while (stack.length > 0) {
    const { node, lead, last, root } = stack.pop()!;
    const dir = node.type === FileType.Directory && node.folded !== true;
    const name = root ? node.path : `${lead}${last ? "└── " : "├── "}${node.name}${dir ? "/" : ""}`;
    const counts =
      node.type === FileType.Directory ? [String(node.dirs), String(node.files)] : ["", ""];
    rows.push([name, formatBytes(node.bytes), ...counts]);
    const childLead = root ? "" : `${lead}${last ? "    " : "│   "}`;
    for (let i = node.children.length - 1; i >= 0; i--) {
      const child = node.children[i]!;
      stack.push({
        node: child,
        lead: childLead,
        last: i === node.children.length - 1,
        root: false,
      });
    }
  }
  return rows;
}

/** The tree for scripts: the nodes with their type names, children nested. */
function treeJson(node: TreeNode): unknown {
  const { children, type, folded: _folded, ...rest } = node;
  return {
    ...rest,
    type: node.folded ? "others" : TYPE_NAMES[type],
    children: children.map(treeJson),
  };
}

export function registerSummary(cli: CAC): void {
  cli
    .command(
      "summary [...ARGS]",
      "Show a tree of sizes, dirs and files under a directory: [META-URL] PATH",
    )
    .option("--path <dir>", "A path inside the volume instead of one on a mount")
    .option("--inode <n>", "An inode of the volume instead of a path")
    .option(
      "--depth <n>",
      `Levels of the tree shown, 0 = the directory only (default: ${DEPTH_DEFAULT})`,
    )
    .option(
      "--entries <n>",
      `Entries shown per directory, biggest first (default: ${ENTRIES_DEFAULT})`,
    )
    .option("--json", "Print the tree as one JSON object, for scripts")
    .example("jfs summary /mnt/jfs/datasets --depth 1 --entries 5")
    .action(async (words: string[], flags: SummaryFlags) => {
      const depth = parseIntFlag("depth", flags.depth ?? DEPTH_DEFAULT, 0, DEPTH_MAX);
      const entries = parseIntFlag("entries", flags.entries ?? ENTRIES_DEFAULT, 1);
      const { metaUrl, targets } = parseTargets("summary", words, flags);
      if (targets.length > 1) throw new UserError("summary takes one PATH (or --path, or --inode)");
      const target = targets[0]!;
      const rt = await openForInfo(metaUrl, flags, "summary");
      try {
        const { inode } = await resolveTarget(rt, "summary", target);
        const progress = new Progress(`summary ${target.shown}`, 0, { noun: "entries" });
        const tree = await usageTree(rt.meta, inode, target.shown, { depth, entries }, (bytes) => {
          progress.add(1, bytes);
        });
        progress.finish();
        pruneTree(tree, entries);
        if (flags.json) console.log(JSON.stringify(treeJson(tree)));
        else console.log(table(["PATH", "SIZE", "DIRS", "FILES"], treeRows(tree)));
      } finally {
        await rt.close();
      }
    });
}
