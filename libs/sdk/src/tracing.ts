import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, isSpanContextValid, trace } from '@opentelemetry/api';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import { TRACE_ATTRIBUTES, formatTraceparent, parseTraceparent } from '@baton/contracts';
import type { Task } from '@baton/proto';

/*
 * The SDK's spans, through the OpenTelemetry API alone: every one is a no-op
 * until the application registers a tracer provider of its own (its SDK, its
 * exporter). A start sends the W3C traceparent of its `baton.start` span; the
 * server keeps it with the run and hands it back in every task, so each
 * execution (`baton.run`), its steps (`baton.step`) and its completion
 * (`baton.complete`) join the trace the run was started in, on any worker,
 * after any replay.
 */

const tracer = (): Tracer => trace.getTracer('@baton/sdk');

/** The traceparent of the active span (the application's, or one of Baton's), if any; sent with a call. */
export function activeTraceparent(): string | undefined {
  const spanContext = trace.getSpanContext(context.active());
  return spanContext && isSpanContextValid(spanContext) ? formatTraceparent(spanContext) : undefined;
}

/** Marks a span failed by `err` (a non-Error thrown is recorded by its text). */
function failSpan(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** Runs `work` with `span` active beneath `parent`; `span` ends when it settles, failed if it throws. */
async function within<T>(span: Span, parent: Context, work: () => T | Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(parent, span), work);
  } catch (err) {
    failSpan(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/**
 * A client start, as span `baton.start <type>`: a child of the caller's
 * active span, or the root of a new trace. `send` gets the span's
 * traceparent (undefined while nothing traces) for the request to carry.
 */
export function traceStart<T extends { run?: { id?: string } }>(
  namespace: string,
  workflowType: string,
  send: (traceparent: string | undefined) => Promise<T>,
): Promise<T> {
  const span = tracer().startSpan(`baton.start ${workflowType}`, {
    kind: SpanKind.CLIENT,
    attributes: { [TRACE_ATTRIBUTES.namespace]: namespace, [TRACE_ATTRIBUTES.workflowType]: workflowType },
  });
  const spanContext = span.spanContext();
  const traceparent = isSpanContextValid(spanContext) ? formatTraceparent(spanContext) : undefined;
  return within(span, context.active(), async () => {
    const res = await send(traceparent);
    if (res.run?.id) span.setAttribute(TRACE_ATTRIBUTES.runId, res.run.id);
    return res;
  });
}

/**
 * One execution of a run, as span `baton.run <type>`: a child of the trace
 * context the run was started in (the task's traceparent), never of whatever
 * is active in the worker's poll loop, so that every execution of the run,
 * here or on another worker, joins the same trace. Active while the handler runs.
 */
export function traceRun(task: Task, workerId: string | null, execute: () => Promise<void>): Promise<void> {
  const remote = parseTraceparent(task.traceparent);
  const parent = remote ? trace.setSpanContext(ROOT_CONTEXT, { ...remote, isRemote: true }) : ROOT_CONTEXT;
  const attributes: Attributes = {
    [TRACE_ATTRIBUTES.namespace]: task.namespace ?? '',
    [TRACE_ATTRIBUTES.queue]: task.queue ?? '',
    [TRACE_ATTRIBUTES.runId]: task.runId ?? '',
    [TRACE_ATTRIBUTES.workflowType]: task.workflowType ?? '',
    [TRACE_ATTRIBUTES.attempt]: task.attempt ?? 0,
    ...(workerId ? { [TRACE_ATTRIBUTES.workerId]: workerId } : {}),
  };
  const span = tracer().startSpan(
    `baton.run ${task.workflowType ?? ''}`,
    { kind: SpanKind.CONSUMER, attributes },
    parent,
  );
  return within(span, parent, execute);
}

/** The run's failure, recorded on its `baton.run` span (the active one where the worker records it). */
export function traceRunFailed(err: unknown): void {
  const span = trace.getActiveSpan();
  if (span?.isRecording()) failSpan(span, err);
}

/** One execution of a step's body, as span `baton.step <stepId>` beneath the run's; ERROR when the body throws. */
export function traceStep<T>(runId: string, stepId: string, seq: number, body: () => T | Promise<T>): Promise<T> {
  const parent = context.active();
  const span = tracer().startSpan(
    `baton.step ${stepId}`,
    {
      attributes: {
        [TRACE_ATTRIBUTES.runId]: runId,
        [TRACE_ATTRIBUTES.stepId]: stepId,
        [TRACE_ATTRIBUTES.stepSeq]: seq,
      },
    },
    parent,
  );
  return within(span, parent, body);
}

/** The run's completion (CompleteWorkflow and its retries), as span `baton.complete` beneath the run's. */
export function traceCompletion<T>(runId: string, complete: () => Promise<T>): Promise<T> {
  const parent = context.active();
  const span = tracer().startSpan(
    'baton.complete',
    { kind: SpanKind.CLIENT, attributes: { [TRACE_ATTRIBUTES.runId]: runId } },
    parent,
  );
  return within(span, parent, complete);
}
