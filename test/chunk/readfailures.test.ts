/** The read failure log's limits, on a fake clock: once per object, a few lines per interval. */
import { expect, test } from "bun:test";
import { ReadFailureLog } from "../../src/chunk/readfailures.ts";
import {
  OBJECT_OUTAGE_LOG_MS,
  OBJECT_READ_FAILURE_LINES_MAX,
  OBJECT_READ_FAILURE_LOG_MS,
} from "../../src/limits.ts";

function setup() {
  const lines: string[] = [];
  let nowMs = 1_000_000;
  const failures = new ReadFailureLog(
    "s3://b/vol/",
    (line) => lines.push(line),
    () => nowMs,
  );
  return { lines, failures, advance: (ms: number) => (nowMs += ms) };
}

test("one line per object per interval, naming it, however often it fails", () => {
  const { lines, failures, advance } = setup();
  for (let i = 0; i < 100; i++) failures.report("chunks/0/0/1_0_10", new Error("boom"));
  expect(lines).toEqual([
    "cannot read object s3://b/vol/chunks/0/0/1_0_10: boom; the read fails with EIO",
  ]);
  advance(OBJECT_READ_FAILURE_LOG_MS);
  failures.report("chunks/0/0/1_0_10", new Error("boom"));
  expect(lines).toHaveLength(2);
});

test("many objects at once: a bounded number of lines, the rest counted", () => {
  const { lines, failures, advance } = setup();
  for (let i = 0; i < 50; i++) failures.report(`chunks/0/0/${i}_0_10`, new Error("down"));
  expect(lines).toHaveLength(OBJECT_READ_FAILURE_LINES_MAX);
  advance(OBJECT_OUTAGE_LOG_MS);
  failures.report("chunks/0/0/99_0_10", new Error("down"));
  expect(lines.at(-1)).toContain(`(and ${50 - OBJECT_READ_FAILURE_LINES_MAX} more failed reads)`);
});
