import type { AdminService } from './generated/baton/v1/admin';
import type { ScheduleService } from './generated/baton/v1/schedule';
import type { WorkerService } from './generated/baton/v1/worker';
import type { WorkflowService } from './generated/baton/v1/workflow';

/**
 * The services by the short names the SDK and the server use, each as ts-proto
 * generated it from proto/ (one method per RPC, request in, response out). The
 * request and response types of every call follow from (service, method).
 */
export interface Services {
  workflow: WorkflowService;
  worker: WorkerService;
  schedule: ScheduleService;
  admin: AdminService;
}

export type ServiceName = keyof Services;

/** Each service's name in the `baton.v1` package, as gRPC routes it. */
export const SERVICES = {
  workflow: 'WorkflowService',
  worker: 'WorkerService',
  schedule: 'ScheduleService',
  admin: 'AdminService',
} as const satisfies Record<ServiceName, string>;

type Methods<S extends ServiceName> = Services[S];

/** RPCs of service S answered by one message. */
export type UnaryMethod<S extends ServiceName> = {
  [M in keyof Methods<S>]: Methods<S>[M] extends (request: never) => Promise<unknown> ? M : never;
}[keyof Methods<S>] &
  string;

/** RPCs of service S answered by a stream of messages. */
export type StreamMethod<S extends ServiceName> = {
  [M in keyof Methods<S>]: Methods<S>[M] extends (request: never) => AsyncIterable<unknown> ? M : never;
}[keyof Methods<S>] &
  string;

/** The request message of RPC M of service S. */
export type RequestOf<S extends ServiceName, M extends keyof Methods<S>> = Methods<S>[M] extends (
  request: infer Request,
) => unknown
  ? Request
  : never;

/** The response message of unary RPC M of service S. */
export type ResponseOf<S extends ServiceName, M extends UnaryMethod<S>> = Methods<S>[M] extends (
  request: never,
) => Promise<infer Response>
  ? Response
  : never;

/** The messages streamed by RPC M of service S. */
export type StreamMessageOf<S extends ServiceName, M extends StreamMethod<S>> = Methods<S>[M] extends (
  request: never,
) => AsyncIterable<infer Message>
  ? Message
  : never;
