export { METRICS_REGISTRY, createRegistry } from './registry';
export { BatonMetrics } from './baton-metrics';
export type { RecoveryKind, ReleaseKind, RunLabels, StepAttemptStatus } from './baton-metrics';
export { instrument } from './instruments';
export type { Instrument } from './instruments';
