/** Percentile by nearest rank over a copy of the samples. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** The middle value (mean of the two middle ones for an even count); NaN samples are left out. */
export function median(samples: number[]): number {
  const s = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

export function percentiles(samples: number[]): Percentiles {
  return { p50: percentile(samples, 50), p95: percentile(samples, 95), p99: percentile(samples, 99) };
}

/** Field-by-field median of several measurements of the same shape (numbers only). */
export function medianOf<T extends Record<string, number>>(items: T[]): T {
  const keys = Object.keys(items[0] ?? {});
  return Object.fromEntries(keys.map((k) => [k, median(items.map((i) => i[k] ?? NaN))])) as T;
}

export function formatTable(rows: Array<Record<string, string | number>>): string {
  const headers = Object.keys(rows[0] ?? {});
  const cell = (v: string | number | undefined) =>
    v === undefined || (typeof v === 'number' && !Number.isFinite(v))
      ? '—'
      : typeof v === 'number'
        ? Number.isInteger(v)
          ? String(v)
          : v.toFixed(1)
        : v;
  const widths = headers.map((h) => Math.max(h.length, ...rows.map((r) => cell(r[h]).length)));
  const line = (values: string[]) => values.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!)));
  return [
    line(headers).join('  '),
    line(widths.map((w) => '-'.repeat(w))).join('  '),
    ...rows.map((r) => line(headers.map((h) => cell(r[h]))).join('  ')),
  ].join('\n');
}
