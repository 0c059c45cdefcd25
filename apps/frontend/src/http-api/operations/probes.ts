import { z } from 'zod';
import { defineOperation } from '../operation';

/*
 * The probes every app serves (libs/runtime HealthModule, open without a
 * key): documented here because the frontend serves them beside its API.
 * They take no input, so nothing here validates a request.
 */

const TAG = 'probes';

export const healthz = defineOperation({
  id: 'healthz',
  method: 'get',
  path: '/healthz',
  tag: TAG,
  summary: 'Liveness',
  status: 200,
  public: true,
  response: z.object({ status: z.literal('ok') }),
  responseDescription: 'The process is up.',
});

export const readyz = defineOperation({
  id: 'readyz',
  method: 'get',
  path: '/readyz',
  tag: TAG,
  summary: 'Readiness',
  description: 'Ready for traffic: started, database and NATS reachable. 503 with the same report otherwise.',
  status: 200,
  public: true,
  response: z.object({
    status: z.enum(['ready', 'unavailable']),
    failed: z.array(z.string()).describe('Checks that failed.'),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string() })),
  }),
  responseDescription: 'Every check passed.',
});

export const metrics = defineOperation({
  id: 'metrics',
  method: 'get',
  path: '/metrics',
  tag: TAG,
  summary: 'Prometheus metrics',
  status: 200,
  public: true,
  response: z.string().describe('Prometheus text exposition format.'),
  responseType: 'text/plain',
  responseDescription: 'The metrics of this process.',
});

export const PROBE_OPERATIONS = [healthz, readyz, metrics];
