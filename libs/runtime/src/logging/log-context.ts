import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Fields every log line written on behalf of one call carries: which request,
 * which run, which worker, which API key. Known by the edge (the frontend's
 * request-context interceptor), not by the code that logs.
 */
export interface LogFields {
  requestId?: string;
  runId?: string;
  workerId?: string;
  /** The API key the call was authenticated with ("anonymous" with authentication off). */
  keyId?: string;
  namespace?: string;
  [field: string]: string | number | boolean | undefined;
}

const storage = new AsyncLocalStorage<LogFields>();

/** Runs `work` with `fields` added to those of the enclosing context, for every line logged in it and what it starts. */
export function runWithLogFields<T>(fields: LogFields, work: () => T): T {
  const outer = storage.getStore();
  return storage.run(outer ? { ...outer, ...fields } : { ...fields }, work);
}

/** Adds fields to the current context (learned mid-call: the run a poll claimed); no-op outside one. */
export function addLogFields(fields: LogFields): void {
  const store = storage.getStore();
  if (store) Object.assign(store, fields);
}

/** The fields of the current context, if any. */
export function currentLogFields(): LogFields | undefined {
  return storage.getStore();
}
