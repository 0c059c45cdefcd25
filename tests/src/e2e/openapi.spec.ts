import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { buildConfig } from '@baton/contracts';
import { FrontendModule } from '@baton/frontend';
import type { Page } from 'playwright-core';
import type { Response } from 'supertest';
import { KEYS_REQUIRED, TEST_ADMIN_KEY, TestHarness, waitFor } from '../index';
import { launchChromium, screenshot } from '../harness/browser';

/*
 * The API documents itself (issue 12, item 3): /docs-json is generated from
 * the same zod schemas that validate every request (apps/frontend/src/http-api),
 * so it passes an OpenAPI validator, lists every route Nest serves with its
 * parameters, body, answer and errors, and what the server answers matches
 * it. Swagger UI's "Try it out" starts a run as it comes.
 */

type Json = Record<string, unknown>;
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json>; securitySchemes: Json };
}
interface Operation {
  security?: unknown[];
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: Json }>;
  requestBody?: { content: Record<string, { schema?: Json; example?: unknown }> };
  responses: Record<string, { content?: Record<string, { schema?: Json }> }>;
}

const execFileAsync = promisify(execFile);
const AUTH = { Authorization: `Bearer ${TEST_ADMIN_KEY}` };

/*
 * The validator is ESM with import.meta (Jest's CommonJS transform cannot load
 * it): it runs in a Node process of its own, from this package's directory.
 */
const VALIDATE = `
import { Validator } from '@seriousme/openapi-schema-validator';
const result = await new Validator().validate(process.argv[1]);
console.log(JSON.stringify(result));
`;

async function validateOpenApi(document: unknown): Promise<{ valid: boolean; errors?: unknown }> {
  const dir = await mkdtemp(join(tmpdir(), 'baton-openapi-'));
  try {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(document));
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', VALIDATE, file], {
      cwd: join(__dirname, '..', '..'),
    });
    return JSON.parse(stdout) as { valid: boolean; errors?: unknown };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/* Nest's route metadata (@nestjs/common constants PATH_METADATA, METHOD_METADATA; RequestMethod's order). */
const PATH_METADATA = 'path';
const METHOD_METADATA = 'method';
const REQUEST_METHODS = ['get', 'post', 'put', 'delete', 'patch', 'all', 'options', 'head'];

interface Route {
  method: string;
  /** OpenAPI form: /v1/namespaces/{namespace}/workflows. */
  path: string;
}

/** Every HTTP route the frontend's controllers declare, read from the metadata Nest routes by. */
function nestRoutes(): Route[] {
  const root = FrontendModule.forRoot(buildConfig({ databaseUrl: 'postgres://unused' }), {});
  // The frontend's controllers and those of the modules it imports (the probes of HealthModule).
  const modules = [root, ...(root.imports ?? [])] as Array<{ controllers?: unknown[] }>;
  const controllers = modules.flatMap((m) => m.controllers ?? []) as Array<abstract new () => unknown>;
  const routes: Route[] = [];
  for (const controller of controllers) {
    const prefix = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '/');
    const proto = (controller as { prototype: Record<string, unknown> }).prototype;
    for (const name of Object.getOwnPropertyNames(proto)) {
      // The descriptor, not the property: reading a getter would run it.
      const handler: unknown = Object.getOwnPropertyDescriptor(proto, name)?.value;
      if (typeof handler !== 'function' || name === 'constructor') continue;
      const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as number | undefined;
      if (path === undefined || method === undefined) continue;
      const full = `/${[prefix, path]
        .map((p) => p.replace(/^\/+|\/+$/g, ''))
        .filter(Boolean)
        .join('/')}`;
      routes.push({ method: REQUEST_METHODS[method]!, path: full.replace(/:(\w+)/g, '{$1}') });
    }
  }
  return routes;
}

/**
 * An OpenAPI 3.0 schema as JSON Schema for Ajv: `nullable` becomes a null
 * branch, and objects allow only the properties they document, so an
 * undocumented field in an answer fails.
 */
function strictJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strictJsonSchema);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] = key === 'properties' ? mapValues(value as Json, strictJsonSchema) : strictJsonSchema(value);
  }
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  if (out.nullable === true) {
    delete out.nullable;
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

const mapValues = (o: Json, f: (v: unknown) => unknown) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));

describe('OpenAPI document', () => {
  let h: TestHarness;
  let doc: OpenApiDocument;
  let ajv: Ajv;

  beforeAll(async () => {
    h = await TestHarness.start({ overrides: KEYS_REQUIRED });
    const res = await h.http().get('/docs-json').expect(200);
    doc = res.body as OpenApiDocument;
    ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(strictJsonSchema({ components: doc.components }) as Json, 'openapi');
  });

  afterAll(async () => {
    await h?.stop();
  });

  const api = (method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, body?: object) => {
    const req = h.http()[method](path).set(AUTH);
    return body === undefined ? req : req.send(body);
  };

  const operation = (method: string, path: string): Operation => {
    const op = doc.paths[path]?.[method] as unknown as Operation | undefined;
    if (!op) throw new Error(`${method.toUpperCase()} ${path} is not in the document`);
    return op;
  };

  /** Validates an answer against the schema the document gives for `method path` and its status. */
  const checked = new Set<string>();
  function expectDocumented(method: string, path: string, res: Response): void {
    const op = operation(method, path);
    const documented = op.responses[String(res.status)];
    expect({ route: `${method} ${path}`, status: res.status, documented: !!documented }).toEqual({
      route: `${method} ${path}`,
      status: res.status,
      documented: true,
    });
    const schema = documented!.content?.['application/json']?.schema;
    if (!schema) {
      expect(res.text).toBe('');
      checked.add(`${method} ${path}`);
      return;
    }
    // Component $refs resolve inside the 'openapi' schema added above.
    const json = JSON.parse(
      JSON.stringify(strictJsonSchema(schema)).replaceAll('"#/components/', '"openapi#/components/'),
    );
    const validate = ajv.compile(json as Json);
    const ok = validate(res.body);
    expect({ route: `${method} ${path}`, errors: ok ? null : validate.errors }).toEqual({
      route: `${method} ${path}`,
      errors: null,
    });
    checked.add(`${method} ${path}`);
  }

  test('openapi_document_passes_validator', async () => {
    expect(doc.openapi).toMatch(/^3\.0\./);
    const result = await validateOpenApi(doc);
    expect(result).toEqual({ valid: true });
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining([
        'Run',
        'Step',
        'Schedule',
        'Worker',
        'Queue',
        'ApiKey',
        'RetryPolicy',
        'ErrorInfo',
        'Error',
      ]),
    );
    expect(doc.components.securitySchemes).toHaveProperty('bearer');
  });

  test('openapi_documents_every_route', () => {
    const routes = nestRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(46);
    // Actions that take no body fields (a body, if sent, must be {}).
    const bodiless = /\/(cancel|drain|pause|resume|trigger|revoke|cancellations)$/;
    for (const { method, path } of routes) {
      const op = operation(method, path);
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect({ route: `${method} ${path}`, params: declared.sort() }).toEqual({
        route: `${method} ${path}`,
        params: inPath.sort(),
      });
      for (const p of op.parameters ?? []) expect(p.schema).toBeDefined();
      if (['post', 'put', 'patch'].includes(method) && !bodiless.test(path)) {
        const schema = op.requestBody?.content['application/json']?.schema;
        expect({ route: `${method} ${path}`, body: schema?.type }).toEqual({
          route: `${method} ${path}`,
          body: 'object',
        });
        expect(Object.keys((schema?.properties as Json | undefined) ?? {}).length).toBeGreaterThan(0);
      }
      const success = Object.entries(op.responses).filter(([status]) => /^2/.test(status));
      expect(success).toHaveLength(1);
      const [status, response] = success[0]!;
      if (status !== '204') expect(Object.values(response.content ?? {})[0]?.schema).toBeDefined();
      const open = Array.isArray(op.security) && op.security.length === 0;
      for (const error of open ? [] : ['400', '401', '403']) {
        expect(op.responses[error]?.content?.['application/json']?.schema).toEqual({
          $ref: '#/components/schemas/Error',
        });
      }
    }
    // Nothing documented that Nest does not serve.
    const served = new Set(routes.map((r) => `${r.method} ${r.path}`));
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((m) => REQUEST_METHODS.includes(m))
        .map((m) => `${m} ${path}`),
    );
    expect(documented.filter((r) => !served.has(r))).toEqual([]);
  });

  test('responses_match_documented_schemas', async () => {
    const ns = 'default';
    const N = `/v1/namespaces/{namespace}`;
    const at = (path: string, params: Record<string, string>) =>
      path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name]!));
    const call = async (
      method: 'get' | 'post' | 'put' | 'patch' | 'delete',
      path: string,
      params: Record<string, string>,
      body?: object,
      query = '',
    ) => {
      const res = await api(method, `${at(path, params)}${query}`, body);
      expectDocumented(method, path, res);
      return res;
    };
    const queue = h.unique('openapi');
    const type = h.unique('type');

    // A worker over the HTTP worker protocol: register, poll, steps, complete.
    const registered = await call('post', `${N}/workers`, { namespace: ns }, { queue, workflowTypes: [type] });
    expect(registered.status).toBe(201);
    const workerId = registered.body.workerId as string;
    const started = await call(
      'post',
      `${N}/workflows`,
      { namespace: ns },
      {
        workflowType: type,
        queue,
        input: { n: 1 },
        externalId: h.unique('ext'),
        correlationId: 'c-1',
        retry: { maxAttempts: 2, initialInterval: '1s' },
        concurrency: { key: 'k', limit: 5 },
      },
    );
    expect(started.status).toBe(201);
    const runId = started.body.run.id as string;
    const run = { namespace: ns, runId };
    const polled = await waitFor(
      async () => {
        const res = await call(
          'post',
          `${N}/workers/{workerId}/poll`,
          { namespace: ns, workerId },
          { queue, workflowTypes: [type] },
        );
        return res.body.task ? res : null;
      },
      'a task',
      { timeoutMs: 20_000 },
    );
    const task = polled.body.task as { leaseEpoch: number; leaseToken: string };
    const lease = { workerId, leaseEpoch: task.leaseEpoch, leaseToken: task.leaseToken };
    await call('post', `${N}/workers/{workerId}/heartbeat`, { namespace: ns, workerId }, { activeRunIds: [runId] });
    const step = { ...run, stepId: 'one' };
    const begun = await call('post', `${N}/workflows/{runId}/steps/{stepId}/begin`, step, { ...lease, seq: 0 });
    expect(begun.body.shouldExecute).toBe(true);
    await call('post', `${N}/workflows/{runId}/steps/{stepId}/complete`, step, { ...lease, seq: 0, output: 'a' });
    const again = await call('post', `${N}/workflows/{runId}/steps/{stepId}/begin`, step, { ...lease, seq: 0 });
    expect(again.body.shouldExecute).toBe(false);
    await call(
      'post',
      `${N}/workflows/{runId}/steps/{stepId}/fail`,
      { ...run, stepId: 'two' },
      {
        ...lease,
        seq: 1,
        error: { message: 'boom', type: 'Oops' },
        // Final at once: the run goes on, and the workflow completes below.
        retry: { maxAttempts: 1 },
      },
    );
    await call('post', `${N}/workflows/{runId}/signals`, run, { name: 'go', payload: { ok: true } });
    await call('post', `${N}/workflows/{runId}/complete`, run, { ...lease, output: { done: 1 } });

    await call('get', `${N}/workflows/{runId}`, run);
    await call('get', `${N}/workflows`, { namespace: ns }, undefined, `?queue=${queue}&pageSize=5&status=COMPLETED`);
    await call('get', `${N}/workflows/{runId}/steps`, run);
    const result = await call('get', `${N}/workflows/{runId}/result`, run, undefined, '?waitMs=5s');
    expect(result.body).toMatchObject({ done: true, run: { status: 'COMPLETED', output: { done: 1 } } });
    await call('get', `${N}/workflows/{runId}/history`, run);
    await call('post', `${N}/workflows/{runId}/retry`, run, { reason: 'again' }).then((r) =>
      expect(r.status).toBe(409),
    );

    // A second run: cancelled, then terminated (already cancelled), then deleted.
    const other = await call('post', `${N}/workflows`, { namespace: ns }, { workflowType: 'nobody-runs-this' });
    const otherRun = { namespace: ns, runId: other.body.run.id as string };
    await call('post', `${N}/workflows/{runId}/cancel`, otherRun);
    await call('post', `${N}/workflows/{runId}/terminate`, otherRun, { reason: 'test' });
    await call('get', `${N}/workflows/{runId}/history`, otherRun);
    await call('delete', `${N}/workflows/{runId}`, otherRun).then((r) => expect(r.status).toBe(204));
    await call('get', `${N}/workflows/{runId}`, otherRun).then((r) => expect(r.status).toBe(404));

    // Workers and queues.
    await call('get', `${N}/workers`, { namespace: ns }, undefined, `?queue=${queue}`);
    await call('get', `${N}/workers/{workerId}`, { namespace: ns, workerId });
    await call('get', `${N}/queues`, { namespace: ns });
    await call('get', `${N}/queues/{queue}/stats`, { namespace: ns, queue });
    await call('post', `${N}/workers/{workerId}/drain`, { namespace: ns, workerId });
    await call('delete', `${N}/workers/{workerId}`, { namespace: ns, workerId });

    // Schedules.
    const S = `${N}/schedules`;
    const scheduleId = h.unique('sched');
    const schedule = { namespace: ns, scheduleId };
    const created = await call(
      'post',
      S,
      { namespace: ns },
      { scheduleId, workflowType: type, cron: '0 3 * * *', input: [1] },
    );
    expect(created.status).toBe(201);
    await call('get', S, { namespace: ns });
    await call('get', `${S}/{scheduleId}`, schedule);
    await call('patch', `${S}/{scheduleId}`, schedule, { cron: '0 4 * * *', timezone: 'Europe/Paris' });
    await call('post', `${S}/{scheduleId}/pause`, schedule);
    await call('post', `${S}/{scheduleId}/resume`, schedule);
    await call('post', `${S}/{scheduleId}/trigger`, schedule);
    await call('delete', `${S}/{scheduleId}`, schedule);

    // Keys, rate limits, server facts.
    const key = await call('post', '/v1/admin/keys', {}, { name: 'docs', namespaces: [ns], roles: ['client'] });
    await call('get', '/v1/admin/keys', {}, undefined, '?includeRevoked=true');
    await call('post', '/v1/admin/keys/{keyId}/revoke', { keyId: key.body.key.id as string });
    await call('put', `${N}/rate-limits`, { namespace: ns }, { queue, limit: 10, period: '2s' });
    await call('get', `${N}/rate-limits`, { namespace: ns });
    await call('delete', `${N}/rate-limits`, { namespace: ns }, undefined, `?queue=${queue}`);
    await call('get', '/v1/info', {});
    await call('get', '/healthz', {});
    await call('get', '/readyz', {});

    // Errors have the documented shape too.
    await call('get', `${N}/workflows/{runId}`, { namespace: ns, runId: 'not-a-uuid' }).then((r) =>
      expect(r.status).toBe(400),
    );
    const unauthenticated = await h.http().get(`/v1/namespaces/${ns}/workflows`);
    expectDocumented('get', `${N}/workflows`, unauthenticated);
    expect(unauthenticated.status).toBe(401);

    expect(checked.size).toBeGreaterThanOrEqual(35);
  });

  test('unknown_fields_rejected_by_schema', async () => {
    const expectRefused = (res: Response, field: string) => {
      expect({ status: res.status, code: res.body.error?.code, field: res.body.error?.field }).toEqual({
        status: 400,
        code: 'INVALID_ARGUMENT',
        field,
      });
      expect(res.body.error.message).toContain(`unknown field "${field}"`);
    };
    const type = h.unique('never-started');
    const W = '/v1/namespaces/default/workflows';
    expectRefused(await api('post', W, { workflowType: type, queueName: 'q' }), 'queueName');
    expectRefused(await api('post', W, { workflowType: type, retry: { maxAttemps: 3 } }), 'retry.maxAttemps');
    expectRefused(
      await api('post', W, { workflowType: type, concurrency: { key: 'k', limit: 1, x: 1 } }),
      'concurrency.x',
    );
    expectRefused(await api('get', `${W}?statuss=RUNNING`), 'statuss');
    expectRefused(await api('post', `${W}?dryRun=true`, { workflowType: type }), 'dryRun');
    expectRefused(
      await api('post', '/v1/namespaces/default/schedules', {
        scheduleId: 's',
        workflowType: type,
        cron: '* * * * *',
        cronn: 1,
      }),
      'cronn',
    );
    // The documented fields are exactly the accepted ones.
    const message = (await api('post', W, { workflowType: type, nope: 1 })).body.error.message as string;
    const documented = Object.keys(
      (operation('post', '/v1/namespaces/{namespace}/workflows').requestBody!.content['application/json']!.schema!
        .properties as Json) ?? {},
    );
    expect(message).toContain(`expected one of: ${documented.join(', ')}`);
    expect(await h.query(`SELECT id FROM workflow_runs WHERE workflow_type = $1`, [type])).toEqual([]);
  });

  test('try_it_out_starts_a_run', async () => {
    const namespace = h.unique('tryit');
    const browser = await launchChromium();
    let page: Page | undefined;
    try {
      page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
      await page.goto(`${h.httpUrl}/docs`);
      // Authorize with the admin key (Swagger UI labels its modal buttons for screen readers: match by class).
      await page.locator('.scheme-container button.authorize').click();
      await page.locator('.modal-ux input').first().fill(TEST_ADMIN_KEY);
      await page.locator('.modal-ux button.authorize').click();
      await page.locator('.modal-ux button.btn-done').click();
      // Expand POST …/workflows and try it out.
      const block = page.locator('#operations-workflows-startRun');
      await block.locator('.opblock-summary').first().click();
      await block.locator('button.try-out__btn').click();
      await block.locator('tr[data-param-name="namespace"] input').fill(namespace);
      await block.locator('button.execute').click();
      const status = block.locator('.live-responses-table .response .response-col_status').first();
      await status.waitFor({ timeout: 15_000 });
      expect((await status.innerText()).trim()).toBe('201');
      await screenshot(page, 'swagger-try-it-out');
      // The run exists.
      const list = await api('get', `/v1/namespaces/${encodeURIComponent(namespace)}/workflows`);
      expect(list.status).toBe(200);
      expect(list.body.runs).toHaveLength(1);
      const run = await api('get', `/v1/namespaces/${encodeURIComponent(namespace)}/workflows/${list.body.runs[0].id}`);
      expect(run.body).toMatchObject({
        namespace,
        workflowType: 'greet',
        queue: 'greetings',
        input: { name: 'Swagger' },
      });
    } catch (err) {
      if (page) await screenshot(page, 'swagger-try-it-out-failed').catch(() => undefined);
      throw err;
    } finally {
      await browser.close();
    }
  });
});
