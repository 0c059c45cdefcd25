import { InitialSchema1764000000000 } from './1764000000000-initial-schema';
import { DeliveryAndRecovery1765000000000 } from './1765000000000-delivery-and-recovery';
import { LeaseTokens1766000000000 } from './1766000000000-lease-tokens';
import { ApiKeys1766500000000 } from './1766500000000-api-keys';
import { RetentionIndex1767000000000 } from './1767000000000-retention-index';
import { RunTraceparent1767100000000 } from './1767100000000-run-traceparent';
import { FlowControl1767200000000 } from './1767200000000-flow-control';
import { Signals1767300000000 } from './1767300000000-signals';
import { ChildWorkflows1767400000000 } from './1767400000000-child-workflows';
import { RunHistory1767500000000 } from './1767500000000-run-history';
import { RunTerminated1767500000001 } from './1767500000001-run-terminated';
import { RunsByCorrelationId1767600000000 } from './1767600000000-runs-by-correlation-id';
import { SignalRequestIds1767600000001 } from './1767600000001-signal-request-ids';

/** In order. Migrations are immutable once merged: add a new one, never edit. */
export const MIGRATIONS = [
  InitialSchema1764000000000,
  DeliveryAndRecovery1765000000000,
  LeaseTokens1766000000000,
  ApiKeys1766500000000,
  RetentionIndex1767000000000,
  RunTraceparent1767100000000,
  FlowControl1767200000000,
  Signals1767300000000,
  ChildWorkflows1767400000000,
  RunHistory1767500000000,
  RunTerminated1767500000001,
  RunsByCorrelationId1767600000000,
  SignalRequestIds1767600000001,
];
