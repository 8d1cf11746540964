/**
 * A small Prometheus registry: counters, gauges and histograms with label values, rendered in
 * the text exposition format (version 0.0.4). Written by hand rather than taken from prom-client:
 * an update here is a Map lookup and an add (a histogram also a short bucket scan) on a child
 * resolved by its label values, where prom-client hashes a labels object per call; it also adds
 * nothing to the binary (prom-client brings tdigest and bintrees). Measured in the commit that
 * added this file.
 *
 * Families are created once at load time (src/metrics/jfs.ts); values at scrape time come either
 * from the children the hooks update or from collectors registered by whoever owns the state
 * (a cache's used bytes is read when scraped, not mirrored on every change).
 */
import { assert } from "../assert.ts";

export type MetricType = "counter" | "gauge" | "histogram";

/** One sample a collector reports: label values in the family's label order, and the value. */
export interface Sample {
  labels: readonly string[];
  value: number;
}

/** Reads state at scrape time; may be async (a meta engine's session list). */
export type Collector = () => Sample[] | Promise<Sample[]>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

abstract class Family<C> {
  readonly #children = new Map<string, C>();
  readonly #collectors = new Set<Collector>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly type: MetricType,
  ) {
    assert(NAME.test(name), `metric name ${name}`);
    assert(labelNames.length <= 2, `${name}: at most two labels`);
    for (const l of labelNames) assert(LABEL.test(l) && l !== "le", `label name ${l}`);
  }

  protected abstract create(): C;

  /**
   * The child of these label values (one per label name, at most two), created on first use.
   * Positional, not rest, parameters: no array per call on the hot path.
   */
  labels(first = "", second?: string): C {
    const key = second === undefined ? first : `${first}\u0000${second}`;
    let child = this.#children.get(key);
    if (child === undefined) {
      const given = second !== undefined ? 2 : this.labelNames.length === 0 ? 0 : 1;
      assert(given === this.labelNames.length, `${this.name}: label values`);
      child = this.create();
      this.#children.set(key, child);
    }
    return child;
  }

  /** Adds a collector; call the result to remove it (a runtime that closes). */
  collect(collector: Collector): () => void {
    this.#collectors.add(collector);
    return () => this.#collectors.delete(collector);
  }

  /** [label values, child] of every child updated so far. */
  protected *children(): Generator<[string[], C]> {
    for (const [key, child] of this.#children) {
      const n = this.labelNames.length;
      yield [n === 0 ? [] : n === 1 ? [key] : key.split("\u0000"), child];
    }
  }

  protected async collected(): Promise<Sample[]> {
    const samples: Sample[] = [];
    for (const c of this.#collectors) samples.push(...(await c()));
    return samples;
  }

  protected labelText(values: readonly string[], extra = ""): string {
    const pairs = values.map((v, i) => `${this.labelNames[i]}="${escapeLabel(v)}"`);
    if (extra !== "") pairs.push(extra);
    return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
  }

  async render(): Promise<string> {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    this.renderChildren(lines);
    for (const s of await this.collected()) {
      lines.push(`${this.name}${this.labelText(s.labels)} ${formatValue(s.value)}`);
    }
    return `${lines.join("\n")}\n`;
  }

  protected abstract renderChildren(lines: string[]): void;
}

/** A counter or a gauge: one number per label set. */
export class Value {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
  set(value: number): void {
    this.value = value;
  }
}

class ValueFamily extends Family<Value> {
  protected create(): Value {
    return new Value();
  }
  protected renderChildren(lines: string[]): void {
    for (const [values, child] of this.children()) {
      lines.push(`${this.name}${this.labelText(values)} ${formatValue(child.value)}`);
    }
  }
}

export class CounterFamily extends ValueFamily {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    assert(name.endsWith("_total"), `counter ${name} ends in _total`);
    super(name, help, labelNames, "counter");
  }
}

export class GaugeFamily extends ValueFamily {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, labelNames, "gauge");
  }
}

/** Per-bucket counts (not cumulative: observe() adds to one) plus sum; cumulated when rendered. */
export class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
  /** Seconds since `startMs` (a performance.now() reading). */
  observeSince(startMs: number): void {
    this.observe((performance.now() - startMs) / 1000);
  }
}

export class HistogramFamily extends Family<Histogram> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly bounds: readonly number[],
  ) {
    super(name, help, labelNames, "histogram");
    for (let i = 1; i < bounds.length; i++) assert(bounds[i]! > bounds[i - 1]!, "bucket order");
  }
  protected create(): Histogram {
    return new Histogram(this.bounds);
  }
  protected renderChildren(lines: string[]): void {
    for (const [values, h] of this.children()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += h.counts[i]!;
        const le = i < this.bounds.length ? formatValue(this.bounds[i]!) : "+Inf";
        lines.push(`${this.name}_bucket${this.labelText(values, `le="${le}"`)} ${cumulative}`);
      }
      lines.push(`${this.name}_sum${this.labelText(values)} ${formatValue(h.sum)}`);
      lines.push(`${this.name}_count${this.labelText(values)} ${h.count}`);
    }
  }
}

export class Registry {
  readonly #families: Family<unknown>[] = [];

  add<F extends Family<unknown>>(family: F): F {
    assert(!this.#families.some((f) => f.name === family.name), `metric ${family.name} twice`);
    this.#families.push(family);
    return family;
  }

  /** The whole exposition, families in registration order. */
  async render(): Promise<string> {
    const parts: string[] = [];
    for (const f of this.#families) parts.push(await f.render());
    return parts.join("");
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

/** Latency buckets in seconds: 100 µs to 30 s, roughly 2.5x apart. */
export const LATENCY_BUCKETS_SEC: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
  30,
];
