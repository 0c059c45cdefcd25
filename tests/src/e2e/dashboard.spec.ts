import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Client } from '@baton/sdk';
import { KEYS_REQUIRED, TEST_ADMIN_KEY, TestHarness, deferred, waitFor } from '../index';
import { launchChromium, screenshot } from '../harness/browser';

/*
 * The web dashboard (issue 12, item 1) in headless Chromium, as a person
 * uses it: against a deployment that requires API keys, the key typed into
 * the dashboard's own form; what a click does is checked through the API too.
 */

// Chromium and four apps on a busy 2-core machine: generous, and every wait is on a condition.
const UI_TIMEOUT_MS = 30_000;
jest.setTimeout(180_000);

describe('the dashboard', () => {
  let h: TestHarness;
  let browser: Browser;
  let client: Client;
  const contexts: BrowserContext[] = [];

  const ui = (path = '') => `${h.httpUrl}/ui${path}`;
  const runPage = (runId: string) => ui(`/namespaces/default/runs/${runId}`);

  /** A fresh browser profile (no stored key), its page's waits bounded by UI_TIMEOUT_MS. */
  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    return page;
  }

  /** Opens `url`, where the API's 401 opens the key form, and types the admin key into it. */
  async function openWithKey(page: Page, url: string): Promise<void> {
    await page.goto(url);
    const form = page.getByRole('dialog', { name: 'API key' });
    await form.getByText('The server wants an API key').waitFor();
    await form.getByLabel('Key', { exact: true }).fill(TEST_ADMIN_KEY);
    await form.getByRole('button', { name: 'Save' }).click();
    await form.waitFor({ state: 'hidden' });
  }

  /** The ids of the runs the list shows, top to bottom. */
  const listedRuns = (page: Page) =>
    page.locator('tbody tr[data-run-id]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-run-id')));

  /** Waits until the list shows exactly `runIds` (a refetch may show the previous filter's rows a moment longer). */
  const waitForList = (page: Page, runIds: string[], what: string) =>
    waitFor(async () => JSON.stringify(await listedRuns(page)) === JSON.stringify(runIds), what, {
      timeoutMs: UI_TIMEOUT_MS,
    });

  /** The status pill in a run page's heading. */
  const runStatus = (page: Page) => page.locator('h1 .badge');

  beforeAll(async () => {
    h = await TestHarness.start({ overrides: KEYS_REQUIRED });
    browser = await launchChromium();
    client = h.client('default', { apiKey: TEST_ADMIN_KEY });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await h?.stop();
  });

  test('dashboard_shows_steps_of_a_run_as_they_happen', async () => {
    const queue = h.unique('dash-steps');
    const gates = { reserve: deferred(), charge: deferred() };
    const worker = h.worker({ queue, apiKey: TEST_ADMIN_KEY });
    worker.register('order', async (ctx, input: { sku: string; amount: number }) => {
      const reserved = await ctx.step('reserve-stock', async () => {
        await gates.reserve.promise;
        return { sku: input.sku, reserved: true };
      });
      const charged = await ctx.step('charge-card', async () => {
        await gates.charge.promise;
        return { chargeId: 'ch_3QfT9', amount: input.amount };
      });
      await ctx.sleep('cool-off', '1s');
      const receipt = await ctx.step('send-receipt', () => ({ to: 'ada@example.com' }));
      return { reserved, charged, receipt };
    });
    await worker.start();
    const run = await client.start('order', { sku: 'BATON-1', amount: 4200 }, { queue, externalId: h.unique('order') });

    const page = await newPage();
    await openWithKey(page, runPage(run.id));
    await page.getByRole('heading', { name: /order/ }).waitFor();
    await runStatus(page).getByText('RUNNING').waitFor();
    await page.getByText('No steps yet.').waitFor();
    // Proof that nothing below reloads the page: a mark on this document survives only without one.
    await page.evaluate(() => ((globalThis as unknown as { notReloaded: boolean }).notReloaded = true));

    gates.reserve.resolve();
    await page.locator('[data-step-id="reserve-stock"]').waitFor();
    expect(await page.locator('[data-step-id="charge-card"]').count()).toBe(0);

    gates.charge.resolve();
    await page.locator('[data-step-id="charge-card"]').waitFor();
    await page.locator('[data-step-id="send-receipt"]').waitFor();
    await runStatus(page).getByText('COMPLETED').waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);

    const order = ['reserve-stock', 'charge-card', 'cool-off', 'send-receipt'];
    expect(
      await page.locator('[data-step-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-step-id'))),
    ).toEqual(order);
    // A step opens to its output.
    await page.locator('[data-step-id="charge-card"] summary').click();
    await page.locator('[data-step-id="charge-card"] pre').getByText('ch_3QfT9').waitFor();
    await screenshot(page, 'run-timeline');
  });

  test('dashboard_cancels_a_run', async () => {
    const queue = h.unique('dash-cancel');
    const worker = h.worker({ queue, apiKey: TEST_ADMIN_KEY });
    worker.register('parked', async (ctx) => {
      await ctx.sleep('nap', '1h');
    });
    await worker.start();
    const run = await client.start('parked', {}, { queue });
    await waitFor(async () => (await client.get(run.id)).status === 'SLEEPING', 'the run to sleep');

    const page = await newPage();
    await openWithKey(page, runPage(run.id));
    await runStatus(page).getByText('SLEEPING').waitFor();
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    const confirm = page.getByRole('dialog', { name: 'Cancel this run?' });
    await confirm.getByRole('button', { name: 'Cancel run' }).click();
    await confirm.waitFor({ state: 'hidden' });

    await waitFor(async () => (await client.get(run.id)).status === 'CANCELLED', 'the API to report CANCELLED', {
      timeoutMs: UI_TIMEOUT_MS,
    });
    await runStatus(page).getByText('CANCELLED').waitFor();
    // A finished run offers no Cancel; the operator's action is in its history.
    expect(await page.getByRole('button', { name: 'Cancel', exact: true }).count()).toBe(0);
    await page.locator('.history td').getByText('CANCELLED', { exact: true }).waitFor();
    await screenshot(page, 'run-cancelled');
  });

  test('dashboard_filters_runs_by_status_and_finds_a_run_by_external_id', async () => {
    const queue = h.unique('dash-list');
    const workflowType = h.unique('listed');
    const worker = h.worker({ queue, apiKey: TEST_ADMIN_KEY });
    worker.register(workflowType, async (ctx, input: { park: boolean }) => {
      if (input.park) await ctx.sleep('nap', '1h');
      return 'done';
    });
    await worker.start();
    const externalId = h.unique('invoice');
    const done = await client.start(workflowType, { park: false }, { queue });
    const parked = await client.start(workflowType, { park: true }, { queue, externalId });
    await client.result(done.id);
    await waitFor(async () => (await client.get(parked.id)).status === 'SLEEPING', 'the parked run to sleep');

    const page = await newPage();
    await openWithKey(page, ui(`/namespaces/default/runs?workflowType=${workflowType}`));
    await waitForList(page, [parked.id, done.id], 'both runs, newest first');

    // Status filter: only the completed run is left.
    await page.getByLabel('Status').selectOption('COMPLETED');
    await page.getByRole('button', { name: 'Apply' }).click();
    await waitForList(page, [done.id], 'the COMPLETED run alone');
    const byStatus = await h
      .http()
      .get(`/v1/namespaces/default/workflows?workflowType=${workflowType}&status=COMPLETED`)
      .set('authorization', `Bearer ${TEST_ADMIN_KEY}`);
    expect(byStatus.body.runs.map((r: { id: string }) => r.id)).toEqual([done.id]);

    // Search by external id, the other filters cleared.
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.waitForURL((url) => url.search === '');
    await page.getByLabel('External id').fill(externalId);
    await page.getByRole('button', { name: 'Apply' }).click();
    await waitForList(page, [parked.id], 'the run with that external id alone');
    expect(new URL(page.url()).searchParams.get('externalId')).toBe(externalId);
    const byExternalId = await h
      .http()
      .get(`/v1/namespaces/default/workflows?externalId=${externalId}`)
      .set('authorization', `Bearer ${TEST_ADMIN_KEY}`);
    expect(byExternalId.body.runs.map((r: { id: string }) => r.id)).toEqual([parked.id]);

    // Opening a run by its id goes to its page.
    await page.getByLabel('Run id').fill(done.id);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await runStatus(page).getByText('COMPLETED').waitFor();
    await page.locator('.payloads pre').getByText('"done"').waitFor();
  });

  test('dashboard_pauses_resumes_and_triggers_a_schedule', async () => {
    const queue = h.unique('dash-schedule');
    const scheduleId = h.unique('nightly');
    // Once a year: it fires only when triggered.
    await client.schedules.create({ scheduleId, workflowType: 'report', queue, cron: '0 3 1 1 *' });

    const page = await newPage();
    await openWithKey(page, ui('/namespaces/default/schedules'));
    const row = page.locator(`tr[data-schedule-id="${scheduleId}"]`);
    await row.getByText('ACTIVE').waitFor();

    await row.getByRole('button', { name: 'Pause' }).click();
    await row.getByText('PAUSED').waitFor();
    expect((await client.schedules.get(scheduleId)).paused).toBe(true);

    await row.getByRole('button', { name: 'Resume' }).click();
    await row.getByText('ACTIVE').waitFor();
    expect((await client.schedules.get(scheduleId)).paused).toBe(false);

    await row.getByRole('button', { name: 'Trigger now' }).click();
    const started = row.locator('.note a');
    await started.waitFor();
    const runId = (await started.textContent())!.trim();
    const run = await client.get(runId);
    expect({ workflowType: run.workflowType, queue: run.queue }).toEqual({ workflowType: 'report', queue });
    await screenshot(page, 'schedules');
  });

  test('dashboard_shows_queue_backlog_and_drains_a_worker', async () => {
    // A backlog: three runs on a queue no worker serves.
    const idle = h.unique('dash-backlog');
    for (let i = 0; i < 3; i++) await client.start('waiting', { i }, { queue: idle });
    await waitFor(
      async () => (await client.admin.queues()).find((q) => q.queue === idle)?.pending === 3,
      'the API to count a backlog of 3',
    );

    const page = await newPage();
    await openWithKey(page, ui('/namespaces/default/queues'));
    const queueRow = page.locator(`tr[data-queue="${idle}"]`);
    await queueRow.locator('.backlog').getByText('3', { exact: true }).waitFor();
    expect(await queueRow.locator('td').last().textContent()).toMatch(/\d/);
    await screenshot(page, 'queues');

    const served = h.unique('dash-worker');
    const worker = h.worker({ queue: served, apiKey: TEST_ADMIN_KEY, hostname: 'dash-host' });
    worker.register('noop', async () => 'ok');
    await worker.start();
    const [info] = await waitFor(async () => {
      const list = await client.workers({ queue: served });
      return list.length ? list : null;
    }, 'the worker to register');

    await page.getByRole('link', { name: 'Workers' }).click();
    const workerRow = page.locator(`tr[data-worker-id="${info!.id}"]`);
    await workerRow.getByText('ONLINE').waitFor();
    await workerRow.getByText(/ ago$|just now/).waitFor();
    await workerRow.getByRole('button', { name: 'Drain' }).click();
    await page.getByRole('dialog', { name: 'Drain this worker?' }).getByRole('button', { name: 'Drain' }).click();

    await waitFor(
      async () => (await client.workers({ queue: served })).find((w) => w.id === info!.id)?.status !== 'ONLINE',
      'the API to report the worker draining',
      { timeoutMs: UI_TIMEOUT_MS },
    );
    await workerRow.getByText(/DRAINING|OFFLINE/).waitFor();
    expect(await workerRow.getByRole('button', { name: 'Drain' }).count()).toBe(0);
    await screenshot(page, 'workers');
  });

  test('dashboard_without_a_key_shows_the_key_form_and_its_files_need_none', async () => {
    // The files are public, with a policy that lets the page load from this server only.
    const index = await fetch(ui('/'));
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await index.text();
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${h.httpUrl}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    // The API it calls is not public.
    expect((await fetch(`${h.httpUrl}/v1/namespaces/default/workflows`)).status).toBe(401);
    // `/` leads to the dashboard.
    const root = await fetch(`${h.httpUrl}/`, { redirect: 'manual' });
    expect({ status: root.status, location: root.headers.get('location') }).toEqual({ status: 302, location: '/ui/' });

    const page = await newPage();
    await page.goto(ui('/'));
    const form = page.getByRole('dialog', { name: 'API key' });
    await form.getByText('The server wants an API key').waitFor();
    // A wrong key is refused in the same form.
    await form.getByLabel('Key', { exact: true }).fill('baton_not-a-key');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByText('refused the one stored here').waitFor();
    await screenshot(page, 'key-form');

    // A deep link is the app's own route: the page loads and says what it can.
    const deep = await fetch(ui('/deep/link'));
    expect(deep.status).toBe(200);
    expect(await deep.text()).toBe(html);
    await page.goto(ui('/deep/link'));
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
    await page.getByRole('link', { name: 'Baton' }).waitFor();
    // A missing asset is not answered with the page.
    expect((await fetch(ui('/assets/missing-0000.js'))).status).toBe(404);
  });
});

describe('the dashboard turned off (BATON_UI=false)', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ apps: ['frontend'], overrides: { ui: false } });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('dashboard_is_not_served_when_BATON_UI_is_false', async () => {
    expect((await fetch(`${h.httpUrl}/ui/`)).status).toBe(404);
    expect((await fetch(`${h.httpUrl}/`, { redirect: 'manual' })).status).toBe(404);
    expect((await fetch(`${h.httpUrl}/docs-json`)).status).toBe(200);
  });
});
