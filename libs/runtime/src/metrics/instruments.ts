import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { CounterDefinition, GaugeDefinition, HistogramDefinition, MetricDefinition } from '@baton/contracts';

/** The prom-client instrument a definition (libs/contracts/src/metrics.ts) becomes. */
export type Instrument<D> =
  D extends CounterDefinition<infer L>
    ? Counter<L>
    : D extends GaugeDefinition<infer L>
      ? Gauge<L>
      : D extends HistogramDefinition<infer L>
        ? Histogram<L>
        : never;

/**
 * The definition's instrument in `registry`, created on first use: an app
 * serves only the metrics it updates, and asking twice returns the same one.
 * `collect` (gauges read at scrape time) applies when it is created.
 */
export function instrument<D extends MetricDefinition>(
  registry: Registry,
  def: D,
  collect?: () => Promise<void>,
): Instrument<D> {
  const existing = registry.getSingleMetric(def.name);
  if (existing) return existing as Instrument<D>;
  const base = { name: def.name, help: def.help, labelNames: [...def.labelNames], registers: [registry] };
  switch (def.type) {
    case 'counter':
      return new Counter(base) as Instrument<D>;
    case 'gauge':
      return new Gauge({ ...base, ...(collect ? { collect } : {}) }) as Instrument<D>;
    case 'histogram':
      return new Histogram({ ...base, buckets: [...def.buckets] }) as Instrument<D>;
  }
}
