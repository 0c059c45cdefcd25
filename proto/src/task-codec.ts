import type { Payload, Step } from './generated/baton/v1/common';
import type { Task } from './generated/baton/v1/worker';

/*
 * The claimed task travels from matching to the frontend as JSON on the bus,
 * where bytes have no form of their own: its payloads' bytes go as base64.
 * Both ends use these two functions, so the Task is the same message on
 * either side of the bus and on the worker's gRPC stream.
 */

/** A Payload on the bus: its bytes as base64 text. */
export type BusPayload = Omit<Payload, 'data'> & { data?: string };

/** A history step on the bus. */
export type BusStep = Omit<Step, 'output'> & { output?: BusPayload };

/** A Task on the bus (JSON): the generated message with its payloads' bytes as base64. */
export type BusTask = Omit<Task, 'input' | 'history'> & { input?: BusPayload; history?: BusStep[] };

function payloadToBus(payload: Payload | undefined): BusPayload | undefined {
  if (!payload) return undefined;
  const { data, ...rest } = payload;
  return data ? { ...rest, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') } : rest;
}

function payloadFromBus(payload: BusPayload | undefined): Payload | undefined {
  if (!payload) return undefined;
  const { data, ...rest } = payload;
  return data === undefined ? rest : { ...rest, data: Buffer.from(data, 'base64') };
}

export function taskToBus(task: Task): BusTask {
  const { input, history, ...rest } = task;
  return {
    ...rest,
    input: payloadToBus(input),
    history: history?.map(({ output, ...step }) => ({ ...step, output: payloadToBus(output) })),
  };
}

export function taskFromBus(task: BusTask): Task {
  const { input, history, ...rest } = task;
  return {
    ...rest,
    input: payloadFromBus(input),
    history: history?.map(({ output, ...step }) => ({ ...step, output: payloadFromBus(output) })),
  };
}
