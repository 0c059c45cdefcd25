import { WORKER_METRICS } from '@baton/contracts';
import type { Task } from '@baton/proto';
import { Registry } from 'prom-client';
import { LeaseClock } from './lease';
import type { Transport } from './transport';
import { WorkerMetrics } from './worker-metrics';

/** The value of `name` (a histogram: its observation count) for the series with exactly these labels. */
async function valueOf(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return undefined;
  const { values } = await metric.get();
  const wanted = (key: string) => key === `${name}_count` || key === name;
  const found = values.find(
    (v) =>
      wanted((v as { metricName?: string }).metricName ?? name) &&
      Object.keys(labels).length === Object.keys(v.labels).length &&
      Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return found?.value;
}

const task = (history: Task['history'] = []): Task => ({
  runId: 'run-1',
  namespace: 'ns',
  queue: 'q',
  workflowType: 'order',
  attempt: 1,
  leaseEpoch: 1,
  leaseToken: '9e8d7c6b-5a49-4382-9170-a1b2c3d4e5f6',
  history,
});

/** A context from `metrics` whose server accepts every mutation. */
function contextOf(metrics: WorkerMetrics, history: Task['history'] = []) {
  const transport: Pick<Transport, 'call'> = { call: async <T>() => ({}) as T };
  const lease = { namespace: 'ns', runId: 'run-1', workerId: 'w', leaseEpoch: 1, leaseToken: task().leaseToken! };
  const link = { transport, lease, clock: new LeaseClock(), abandon: () => undefined };
  return metrics.context(task(history), link, new AbortController().signal);
}

describe('WorkerMetrics', () => {
  const mine = { namespace: 'ns', queue: 'q' };
  const steps = WORKER_METRICS.stepDuration.name;

  test('times the step bodies a context runs, by outcome; a replayed step runs none', async () => {
    const metrics = new WorkerMetrics(undefined, 'ns', 'q');
    const ctx = contextOf(metrics, [{ stepId: 'done', seq: 0, kind: 'FUNCTION', status: 'COMPLETED' }]);
    await ctx.step('done', () => 'never runs');
    await ctx.step('charge', async () => 42);
    const thrown = new Error('declined');
    await expect(metrics.timeStep('order', () => Promise.reject(thrown))).rejects.toBe(thrown);
    const of = (status: string) => valueOf(metrics.registry, steps, { ...mine, workflow_type: 'order', status });
    expect(await of('COMPLETED')).toBe(1);
    expect(await of('FAILED')).toBe(1);
  });

  test('slots and capacity add up over workers sharing the user registry; polls end once', async () => {
    const registry = new Registry();
    const a = new WorkerMetrics(registry, 'ns', 'q');
    const b = new WorkerMetrics(registry, 'ns', 'q');
    a.capacity(3);
    b.capacity(2);
    a.slotTaken(1);
    b.slotTaken(1);
    b.slotTaken(-1);
    expect(await valueOf(registry, WORKER_METRICS.slotsMax.name, mine)).toBe(5);
    expect(await valueOf(registry, WORKER_METRICS.slotsInUse.name, mine)).toBe(1);
    const polled = a.pollStarted();
    polled('empty');
    polled('error');
    const polls = WORKER_METRICS.pollDuration.name;
    expect(await valueOf(registry, polls, { ...mine, status: 'empty' })).toBe(1);
    expect(await valueOf(registry, polls, { ...mine, status: 'error' })).toBeUndefined();
  });
});
