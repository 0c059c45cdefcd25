import { BatonError } from '@baton/sdk';
import { TestHarness, waitFor } from '../index';

/** Runs a schedule has fired so far. */
async function firedRuns(h: TestHarness, namespace: string, scheduleId: string) {
  return h.query<{ id: string; fire_time: Date; status: string }>(
    `SELECT r.id, r.fire_time, r.status FROM workflow_runs r JOIN schedules s ON s.id = r.schedule_id
     WHERE s.namespace = $1 AND s.schedule_id = $2 ORDER BY r.fire_time`,
    [namespace, scheduleId],
  );
}

describe('7. Scheduling (cron) and 9.1 schedule scoping', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ schedulerIntervalSecs: 0.2 });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('schedule_fires_at_next_cron_time', async () => {
    const client = h.client();
    const scheduleId = h.unique('every-second');
    // '* * * * * *' fires on every whole second: the first fire time strictly after t is this.
    const nextSecondAfter = (t: number) => Math.floor(t / 1000) * 1000 + 1000;
    // Create it early in a second, so the request cannot straddle a fire time (then "the next fire time after
    // its creation" is one instant whichever moment of the request the server took as now).
    await waitFor(() => Date.now() % 1000 < 300, 'the start of a second', { intervalMs: 5 });
    const requestedAt = Date.now();
    const created = await client.schedules.create({ scheduleId, workflowType: 'tick', cron: '* * * * * *', input: 7 });
    const answeredAt = Date.now();
    const fireTime = created.nextFireAt!.getTime();
    if (nextSecondAfter(requestedAt) === nextSecondAfter(answeredAt)) {
      expect(fireTime).toBe(nextSecondAfter(created.createdAt.getTime()));
    } else {
      // A starved machine took the request across a second: either instant is "next" for some moment of it.
      expect([nextSecondAfter(requestedAt), nextSecondAfter(answeredAt)]).toContain(fireTime);
    }

    const [run] = await waitFor(async () => {
      const runs = await firedRuns(h, 'default', scheduleId);
      return runs.length > 0 ? runs : null;
    }, 'the first fired run');
    // The run is stamped with the cron time it fired for, the schedule's first next_fire_at, and it was
    // created at or after that time, never ahead of it (compared in the database, to the microsecond).
    expect(run!.fire_time.getTime()).toBe(fireTime);
    const [timing] = await h.query<{ on_time: boolean }>(
      `SELECT created_at >= fire_time AS on_time FROM workflow_runs WHERE id = $1`,
      [run!.id],
    );
    expect(timing).toEqual({ on_time: true });
    expect((await client.get(run!.id)).input).toBe(7);
    await client.schedules.delete(scheduleId);
  });

  test('schedule_advances_after_fire', async () => {
    const client = h.client();
    const scheduleId = h.unique('advance');
    const created = await client.schedules.create({ scheduleId, workflowType: 'tick', cron: '* * * * * *' });
    const advanced = await waitFor(async () => {
      const s = await client.schedules.get(scheduleId);
      return s.lastFiredAt ? s : null;
    }, 'a fire');
    expect(advanced.nextFireAt!.getTime()).toBeGreaterThan(advanced.lastFiredAt!.getTime());
    expect(advanced.nextFireAt!.getTime()).toBeGreaterThan(created.nextFireAt!.getTime());
    await client.schedules.delete(scheduleId);
  });

  test('schedule_invalid_cron_rejected', async () => {
    const client = h.client();
    for (const cron of ['not a cron', '61 * * * *', '* * *', '']) {
      const err = await client.schedules
        .create({ scheduleId: h.unique('bad'), workflowType: 'tick', cron })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BatonError);
      expect((err as BatonError).code).toBe('INVALID_ARGUMENT');
      expect((err as BatonError).field).toBe('cron');
    }
    const res = await h
      .http()
      .post('/v1/namespaces/default/schedules')
      .send({ scheduleId: 'x', workflowType: 't', cron: '* * *' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'cron' });
    expect(await h.query(`SELECT 1 FROM schedules WHERE schedule_id = 'x'`)).toHaveLength(0);
  });

  test('schedule_pause_stops_firing', async () => {
    const client = h.client();
    const scheduleId = h.unique('pause');
    await client.schedules.create({ scheduleId, workflowType: 'tick', cron: '* * * * * *' });
    await waitFor(async () => (await firedRuns(h, 'default', scheduleId)).length > 0, 'a first fire');
    const paused = await client.schedules.pause(scheduleId);
    expect(paused.paused).toBe(true);
    const count = (await firedRuns(h, 'default', scheduleId)).length;
    // Several fire times pass while paused; a firing pass at most in flight at pause time may add one.
    const until = Date.now() + 2500;
    await waitFor(() => Date.now() > until, 'time to pass', { timeoutMs: 5000 });
    expect((await firedRuns(h, 'default', scheduleId)).length).toBeLessThanOrEqual(count + 1);
    await client.schedules.delete(scheduleId);
  });

  test('schedule_catchup_fires_missed_runs', async () => {
    const client = h.client();
    const scheduleId = h.unique('catchup');
    await client.schedules.create({ scheduleId, workflowType: 'tick', cron: '0 * * * *', maxCatchup: 100 });
    // The scheduler was "down" for 5 hours: next_fire_at lies 5 full hours back.
    await h.query(
      `UPDATE schedules SET next_fire_at = date_trunc('hour', now()) - interval '5 hours' WHERE schedule_id = $1`,
      [scheduleId],
    );
    const runs = await waitFor(async () => {
      const r = await firedRuns(h, 'default', scheduleId);
      return r.length >= 6 ? r : null;
    }, 'the missed fires');
    expect(runs).toHaveLength(6); // -5h … -0h on the hour
    const hours = runs.map((r) => r.fire_time.getTime() / 3_600_000);
    hours.forEach((hour, i) => i > 0 && expect(hour - hours[i - 1]!).toBe(1));
    await client.schedules.delete(scheduleId);
  });

  test('schedule_max_catchup_limits_burst', async () => {
    const client = h.client();
    const scheduleId = h.unique('cap');
    await client.schedules.create({ scheduleId, workflowType: 'tick', cron: '* * * * *', maxCatchup: 3 });
    await h.query(`UPDATE schedules SET next_fire_at = now() - interval '2 hours' WHERE schedule_id = $1`, [
      scheduleId,
    ]);
    await waitFor(async () => (await firedRuns(h, 'default', scheduleId)).length >= 3, 'the capped catch-up');
    const s = await waitFor(async () => {
      const current = await client.schedules.get(scheduleId);
      return current.nextFireAt!.getTime() > Date.now() ? current : null;
    }, 'the schedule to move past now');
    const runs = await firedRuns(h, 'default', scheduleId);
    expect(runs).toHaveLength(3);
    // The cap keeps the latest fire times, not the oldest.
    expect(runs[2]!.fire_time.getTime()).toBeGreaterThan(Date.now() - 2 * 60_000);
    expect(s.paused).toBe(false);
    await client.schedules.delete(scheduleId);
  });

  test('schedule_idempotency_prevents_duplicates', async () => {
    const client = h.client();
    const scheduleId = h.unique('idem');
    await client.schedules.create({ scheduleId, workflowType: 'tick', cron: '0 * * * *' });
    await h.query(
      `UPDATE schedules SET next_fire_at = date_trunc('hour', now()) - interval '1 hour' WHERE schedule_id = $1`,
      [scheduleId],
    );
    await waitFor(async () => (await firedRuns(h, 'default', scheduleId)).length === 2, 'two fires');
    // Rewind as a crashed scheduler would leave it: the same fire times come due again.
    await h.query(
      `UPDATE schedules SET next_fire_at = date_trunc('hour', now()) - interval '1 hour' WHERE schedule_id = $1`,
      [scheduleId],
    );
    await waitFor(async () => {
      const s = await client.schedules.get(scheduleId);
      return s.nextFireAt!.getTime() > Date.now();
    }, 'the rewound schedule to be processed again');
    expect(await firedRuns(h, 'default', scheduleId)).toHaveLength(2);
    await client.schedules.delete(scheduleId);
  });

  test('schedule_update_recomputes_next_fire', async () => {
    const client = h.client();
    const scheduleId = h.unique('update');
    const created = await client.schedules.create({ scheduleId, workflowType: 'tick', cron: '0 0 1 1 *' });
    const updated = await client.schedules.update(scheduleId, { cron: '*/10 * * * *' });
    expect(updated.cron).toBe('*/10 * * * *');
    expect(updated.nextFireAt!.getTime()).toBeLessThan(created.nextFireAt!.getTime());
    expect(updated.nextFireAt!.getTime() - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    expect(updated.nextFireAt!.getUTCMinutes() % 10).toBe(0);
    await client.schedules.delete(scheduleId);
  });

  test('schedule_delete_stops_all_firing', async () => {
    const client = h.client();
    const scheduleId = h.unique('delete');
    await client.schedules.create({ scheduleId, workflowType: 'tick', cron: '* * * * * *' });
    await waitFor(async () => (await firedRuns(h, 'default', scheduleId)).length > 0, 'a fire');
    await client.schedules.delete(scheduleId);
    await expect(client.schedules.get(scheduleId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const before = (await h.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE workflow_type = 'tick'`))[0]!.n;
    const until = Date.now() + 2000;
    await waitFor(() => Date.now() > until, 'time to pass', { timeoutMs: 5000 });
    const after = (await h.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE workflow_type = 'tick'`))[0]!.n;
    // Other tests' schedules are deleted; at most one pass already in flight may land.
    expect(after - before).toBeLessThanOrEqual(1);
  });

  test('schedule_list_returns_all_for_namespace', async () => {
    const ns = h.unique('ns');
    const client = h.client(ns);
    const ids = Array.from({ length: 7 }, (_, i) => `s-${i}`);
    for (const scheduleId of ids) {
      await client.schedules.create({
        scheduleId,
        workflowType: scheduleId === 's-0' ? 'other' : 'tick',
        cron: '0 0 1 1 *',
      });
    }
    const seen: string[] = [];
    let pageToken: string | undefined;
    do {
      const page = await client.schedules.list({ pageSize: 3, pageToken });
      seen.push(...page.schedules.map((s) => s.scheduleId));
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken);
    expect(seen.sort()).toEqual(ids);
    const filtered = await client.schedules.list({ workflowType: 'other' });
    expect(filtered.schedules.map((s) => s.scheduleId)).toEqual(['s-0']);
  });

  test('schedules_scoped_to_namespace', async () => {
    const a = h.client(h.unique('tenant-a'));
    const b = h.client(h.unique('tenant-b'));
    await a.schedules.create({ scheduleId: 'nightly', workflowType: 'report', cron: '0 3 * * *' });
    // The same id in another namespace is a different schedule, not a conflict.
    await b.schedules.create({ scheduleId: 'nightly', workflowType: 'other-report', cron: '0 4 * * *' });
    await a.schedules.create({ scheduleId: 'only-a', workflowType: 'report', cron: '0 3 * * *' });
    expect((await a.schedules.get('nightly')).workflowType).toBe('report');
    expect((await b.schedules.get('nightly')).workflowType).toBe('other-report');
    await expect(b.schedules.get('only-a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(b.schedules.pause('only-a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(b.schedules.delete('only-a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await b.schedules.list()).schedules.map((s) => s.scheduleId)).toEqual(['nightly']);
    expect((await a.schedules.get('only-a')).paused).toBe(false);
  });
});
