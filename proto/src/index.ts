import { join } from 'node:path';
import type { Options } from '@grpc/proto-loader';

/** Folder holding `baton/v1/*.proto`; shipped with this package so deploys have the contract. */
export const PROTO_ROOT = join(__dirname, '..');

export const PROTO_PACKAGE = 'baton.v1';

export const PROTO_FILES = ['workflow.proto', 'worker.proto', 'schedule.proto', 'admin.proto'].map((f) =>
  join(PROTO_ROOT, 'baton', 'v1', f),
);

/**
 * One set of loader options for the server and the SDK, so both see the same
 * shapes: camelCase fields, int64 as numbers (epoch ms fit), enums as strings,
 * absent fields left undefined (presence matters: "unset" vs zero).
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

export const SERVICES = {
  workflow: 'WorkflowService',
  worker: 'WorkerService',
  schedule: 'ScheduleService',
  admin: 'AdminService',
} as const;
