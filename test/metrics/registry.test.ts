/**
 * The hand-written exposition format: what the registry renders, the parser reads back
 * (escaped label values, label-less families, cumulative histogram buckets with inclusive
 * bounds, collectors read at render time), and `jfs stats`'s rates between two scrapes.
 */
import { describe, expect, test } from "bun:test";
import { parseExposition, sumOf } from "../../src/metrics/parse.ts";
import { ratesOf, totalsOf } from "../../src/metrics/rates.ts";
import {
  CounterFamily,
  GaugeFamily,
  HistogramFamily,
  Registry,
} from "../../src/metrics/registry.ts";

describe("exposition format", () => {
  test("counters, gauges and collectors round-trip, label values escaped", async () => {
    const r = new Registry();
    const c = r.add(new CounterFamily("t_ops_total", "ops", ["op"]));
    const plain = r.add(new CounterFamily("t_plain_total", "no labels"));
    const g = r.add(new GaugeFamily("t_used_bytes", "used", ["cache"]));
    c.labels("READ").inc();
    c.labels("READ").inc(2);
    c.labels('we"ird\\\nname').inc(5);
    plain.labels().inc(7);
    let used = 10;
    const remove = g.collect(() => [{ labels: ["memory"], value: used }]);
    used = 42;
    const text = await r.render();
    expect(text).toContain("# TYPE t_ops_total counter\n");
    expect(text).toContain('t_ops_total{op="we\\"ird\\\\\\nname"} 5\n');
    expect(text).toContain("t_plain_total 7\n");
    const { samples, types } = parseExposition(text);
    expect(types.get("t_used_bytes")).toBe("gauge");
    expect(sumOf(samples, "t_ops_total", { op: "READ" })).toBe(3);
    expect(sumOf(samples, "t_ops_total", { op: 'we"ird\\\nname' })).toBe(5);
    expect(sumOf(samples, "t_used_bytes", { cache: "memory" })).toBe(42);
    remove();
    expect(sumOf(parseExposition(await r.render()).samples, "t_used_bytes")).toBe(0);
  });

  test("histogram buckets are cumulative, bounds inclusive, +Inf equals _count", async () => {
    const r = new Registry();
    const h = r.add(new HistogramFamily("t_seconds", "lat", ["op"], [0.1, 1]));
    for (const v of [0.05, 0.1, 0.5, 1, 3]) h.labels("GET").observe(v);
    const { samples } = parseExposition(await r.render());
    const bucket = (le: string) => sumOf(samples, "t_seconds_bucket", { op: "GET", le });
    expect([bucket("0.1"), bucket("1"), bucket("+Inf")]).toEqual([2, 4, 5]);
    expect(sumOf(samples, "t_seconds_count")).toBe(5);
    expect(sumOf(samples, "t_seconds_sum")).toBeCloseTo(4.65);
  });

  test("a family name or a bad line is refused", () => {
    expect(() => new CounterFamily("no_suffix", "x")).toThrow("_total");
    expect(() => parseExposition("metric{op=READ} 1\n")).toThrow("bad labels");
    expect(() => parseExposition("just words here\n")).toThrow("not a sample");
  });
});

describe("jfs stats rates", () => {
  test("ops/s, mean latency, throughput and hit ratio between two scrapes", () => {
    const scrape = (ops: number, sec: number, hits: number, misses: number, written: number) =>
      totalsOf(
        parseExposition(
          [
            `jfs_nfs_op_duration_seconds_count{op="READ"} ${ops}`,
            `jfs_nfs_op_duration_seconds_sum{op="READ"} ${sec}`,
            `jfs_cache_hits_total{cache="memory"} ${hits}`,
            `jfs_cache_misses_total{cache="memory"} ${misses}`,
            `jfs_written_bytes_total ${written}`,
          ].join("\n"),
        ).samples,
      );
    const rates = ratesOf(scrape(10, 1, 0, 0, 0), scrape(30, 1.2, 3, 1, 4096), 2);
    expect(rates.frontEnd).toBe("nfs");
    expect(rates.front.opsPerSec).toBe(10);
    expect(rates.front.latencyMs).toBeCloseTo(10);
    expect(rates.cacheHitRatio).toBe(0.75);
    expect(rates.writeBytesPerSec).toBe(2048);
    expect(ratesOf(scrape(1, 1, 0, 0, 0), scrape(1, 1, 0, 0, 0), 1).cacheHitRatio).toBeUndefined();
  });
});
