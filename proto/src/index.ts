import { join } from 'node:path';
import type { Options } from '@grpc/proto-loader';

/*
 * The contract: the .proto files (loaded at run time by @grpc/proto-loader on
 * both ends) and the TypeScript types generated from them (`pnpm generate`,
 * see buf.gen.yaml), which describe what the loader yields with the options
 * below.
 */

export type * from './generated/baton/v1/common';
export type * from './generated/baton/v1/workflow';
export type * from './generated/baton/v1/worker';
export type * from './generated/baton/v1/schedule';
export type * from './generated/baton/v1/admin';
export { SERVICES } from './services';
export type {
  RequestOf,
  ResponseOf,
  ServiceName,
  Services,
  StreamMessageOf,
  StreamMethod,
  UnaryMethod,
} from './services';
export { taskFromBus, taskToBus } from './task-codec';
export { WORKER_BATCH_CALLS, isBatchableWorkerMethod } from './worker-batch';
export type { BatchableWorkerMethod } from './worker-batch';
export type { BusPayload, BusStep, BusTask } from './task-codec';

/** Folder holding `baton/v1/*.proto`; shipped with this package so deploys have the contract. */
export const PROTO_ROOT = join(__dirname, '..');

export const PROTO_PACKAGE = 'baton.v1';

export const PROTO_FILES = ['workflow.proto', 'worker.proto', 'schedule.proto', 'admin.proto'].map((f) =>
  join(PROTO_ROOT, 'baton', 'v1', f),
);

/**
 * One set of loader options for the server and the SDK, so both see the same
 * shapes: camelCase fields, int64 as numbers (epoch ms fit), enums as strings,
 * absent fields left undefined (presence matters: "unset" vs zero). The
 * generated types (buf.gen.yaml) are written for exactly these options.
 */
export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: false,
  arrays: true,
  objects: false,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};
