/** Replaces (or appends) one "## Section" of a markdown report such as docs/benchmarks.md. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export function writeSection(path: string, title: string, body: string): void {
  const header = `## ${title}`;
  const text = existsSync(path)
    ? readFileSync(path, "utf8")
    : "# Benchmarks\n\nFigures from this machine; each section names the command that produced it.\n";
  const start = text.indexOf(`${header}\n`);
  const section = `${header}\n\n${body.trim()}\n`;
  let next: string;
  if (start < 0) {
    next = `${text.trimEnd()}\n\n${section}`;
  } else {
    const after = text.indexOf("\n## ", start + header.length);
    next = text.slice(0, start) + section + (after < 0 ? "" : text.slice(after));
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, next);
}
