/**
 * How the SQL engines store directory quotas without a table of their own: the limits are a
 * row of the settings table named `quota/{ino}` (JSON QuotaLimits), the usage two counters
 * named `quota/{ino}/bytes` and `quota/{ino}/inodes`. Counters, because every write in the
 * subtree adds to them: PostgreSQL spreads a counter over shard rows, so concurrent writes do
 * not all update one row, and no schema change is needed on volumes formatted before quotas.
 */
import { assert, assertSafeUint } from "../assert.ts";
import type { Ino } from "./interface.ts";
import type { QuotaLimits, QuotaUsage } from "./txn.ts";

export const QUOTA_SETTING_PREFIX = "quota/";

export const quotaSettingName = (ino: Ino): string => {
  assertSafeUint(ino, "quota inode");
  return `${QUOTA_SETTING_PREFIX}${ino}`;
};
export const quotaBytesCounter = (ino: Ino): string => `${quotaSettingName(ino)}/bytes`;
export const quotaInodesCounter = (ino: Ino): string => `${quotaSettingName(ino)}/inodes`;

export function encodeQuotaLimits(limits: QuotaLimits): string {
  assertSafeUint(limits.capacityBytes, "quota capacity");
  assertSafeUint(limits.inodes, "quota inodes");
  return JSON.stringify({ capacityBytes: limits.capacityBytes, inodes: limits.inodes });
}

/** Quota limits from the `quota/...` setting rows. */
export function quotaLimits(
  settings: ReadonlyArray<{ name: string; value: string }>,
): Map<Ino, QuotaLimits> {
  const quotas = new Map<Ino, QuotaLimits>();
  for (const { name, value } of settings) {
    const inode = Number(name.slice(QUOTA_SETTING_PREFIX.length));
    assert(Number.isSafeInteger(inode) && inode > 0, `quota setting name ${name}`);
    const limits = JSON.parse(value) as QuotaLimits;
    quotas.set(inode, { capacityBytes: limits.capacityBytes, inodes: limits.inodes });
  }
  return quotas;
}

/** The counter names holding the usage of these quotas. */
export const quotaUsageCounters = (inos: readonly Ino[]): string[] =>
  inos.flatMap((ino) => [quotaBytesCounter(ino), quotaInodesCounter(ino)]);

/** Usage per inode, in order, from counter sums (name -> value). */
export function quotaUsages(
  inos: readonly Ino[],
  counters: ReadonlyMap<string, number>,
): QuotaUsage[] {
  return inos.map((ino) => ({
    usedBytes: counters.get(quotaBytesCounter(ino)) ?? 0,
    usedInodes: counters.get(quotaInodesCounter(ino)) ?? 0,
  }));
}
