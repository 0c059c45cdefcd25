import { WORKER_METRICS } from '@baton/contracts';
import type { GaugeDefinition, HistogramDefinition, MetricLabel } from '@baton/contracts';
import { Gauge, Histogram, Registry } from 'prom-client';
import { WorkflowContext } from './context';
import type { StepOptions } from './context';

/** How a PollTask call ended (see baton_worker_poll_duration_seconds). */
export type PollOutcome = 'task' | 'empty' | 'error';

/*
 * Instruments are looked up by name first: several workers may share the
 * user's registry (each adds its own label values, or to the same ones).
 */
function gauge<L extends MetricLabel>(registry: Registry, def: GaugeDefinition<L>): Gauge<L> {
  const existing = registry.getSingleMetric(def.name) as Gauge<L> | undefined;
  return (
    existing ?? new Gauge({ name: def.name, help: def.help, labelNames: [...def.labelNames], registers: [registry] })
  );
}

function histogram<L extends MetricLabel>(registry: Registry, def: HistogramDefinition<L>): Histogram<L> {
  const existing = registry.getSingleMetric(def.name) as Histogram<L> | undefined;
  return (
    existing ??
    new Histogram({
      name: def.name,
      help: def.help,
      labelNames: [...def.labelNames],
      buckets: [...def.buckets],
      registers: [registry],
    })
  );
}

/**
 * A worker's metrics (names, labels and buckets from WORKER_METRICS in
 * @baton/contracts): slots in use and available, PollTask latency, and the
 * duration of each step body it executes. Labelled by namespace and queue,
 * never by run or worker id.
 */
export class WorkerMetrics {
  readonly registry: Registry;
  private readonly labels: { namespace: string; queue: string };
  private readonly slotsInUse: Gauge<'namespace' | 'queue'>;
  private readonly slotsMax: Gauge<'namespace' | 'queue'>;
  private readonly pollDuration: Histogram<'namespace' | 'queue' | 'status'>;
  private readonly stepDuration: Histogram<'namespace' | 'queue' | 'workflow_type' | 'status'>;

  /** `registry`: the user's, to serve with their own; a new one otherwise. */
  constructor(registry: Registry | undefined, namespace: string, queue: string) {
    this.registry = registry ?? new Registry();
    this.labels = { namespace, queue };
    this.slotsInUse = gauge(this.registry, WORKER_METRICS.slotsInUse);
    this.slotsMax = gauge(this.registry, WORKER_METRICS.slotsMax);
    this.pollDuration = histogram(this.registry, WORKER_METRICS.pollDuration);
    this.stepDuration = histogram(this.registry, WORKER_METRICS.stepDuration);
  }

  /** The worker started (+) or stopped (-) offering `slots` slots. */
  capacity(slots: number): void {
    this.slotsMax.inc(this.labels, slots);
  }

  /** A run started executing here (+1) or ended (-1). */
  slotTaken(delta: 1 | -1): void {
    this.slotsInUse.inc(this.labels, delta);
  }

  /** Call when a PollTask call leaves; call what it returns when it ends. */
  pollStarted(): (outcome: PollOutcome) => void {
    const end = this.pollDuration.startTimer(this.labels);
    let ended = false;
    return (status) => {
      if (ended) return;
      ended = true;
      end({ status });
    };
  }

  /** The context for one execution, timing each step body it runs (replayed steps run none). */
  context(...args: ConstructorParameters<typeof WorkflowContext>): WorkflowContext {
    return new MeteredContext(this, ...args);
  }

  /** Runs one step body, observing how long it took and whether it threw. */
  async timeStep<T>(workflowType: string, fn: () => T | Promise<T>): Promise<T> {
    const end = this.stepDuration.startTimer({ ...this.labels, workflow_type: workflowType });
    try {
      const value = await fn();
      end({ status: 'COMPLETED' });
      return value;
    } catch (err) {
      end({ status: 'FAILED' });
      throw err;
    }
  }
}

/** A WorkflowContext whose step bodies are timed; everything else is the context's own. */
class MeteredContext extends WorkflowContext {
  constructor(
    private readonly metrics: WorkerMetrics,
    ...args: ConstructorParameters<typeof WorkflowContext>
  ) {
    super(...args);
  }

  override step<T>(stepId: string, fn: () => T | Promise<T>, options?: StepOptions): Promise<T> {
    return super.step(stepId, () => this.metrics.timeStep(this.workflowType, fn), options);
  }
}
