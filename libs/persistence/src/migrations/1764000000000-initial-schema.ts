import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The whole data model of DESIGN §3. Claimable runs are those PENDING or
 * SLEEPING with `available_at <= now()`: a sleeper's `available_at` is its wake
 * time, so one partial index serves the claim path for both, and matching can
 * claim a due sleeper directly.
 */
export class InitialSchema1764000000000 implements MigrationInterface {
  name = 'InitialSchema1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE workflow_runs (
        id uuid PRIMARY KEY,
        namespace text NOT NULL,
        task_queue text NOT NULL,
        workflow_type text NOT NULL,
        status text NOT NULL CHECK (status IN ('PENDING','RUNNING','SLEEPING','COMPLETED','FAILED','CANCELLED')),
        external_id text,
        attempt integer NOT NULL DEFAULT 1,
        claims integer NOT NULL DEFAULT 0,
        retry_policy jsonb,
        available_at timestamptz NOT NULL DEFAULT now(),
        wake_up_at timestamptz,
        locked_by uuid,
        lease_epoch integer NOT NULL DEFAULT 0,
        locked_until timestamptz,
        deadline_at timestamptz,
        error_message text,
        error_type text,
        error_stack text,
        error_non_retryable boolean,
        correlation_id text,
        trace_id text,
        schedule_id uuid,
        fire_time timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX workflow_runs_claimable ON workflow_runs (namespace, task_queue, available_at, id)
      WHERE status IN ('PENDING','SLEEPING')`);
    await q.query(`CREATE INDEX workflow_runs_sleeping ON workflow_runs (wake_up_at) WHERE status = 'SLEEPING'`);
    await q.query(`CREATE INDEX workflow_runs_leases ON workflow_runs (locked_until) WHERE status = 'RUNNING'`);
    await q.query(
      `CREATE INDEX workflow_runs_owner ON workflow_runs (locked_by, workflow_type) WHERE status = 'RUNNING'`,
    );
    await q.query(`CREATE INDEX workflow_runs_deadline ON workflow_runs (deadline_at)
      WHERE deadline_at IS NOT NULL AND status IN ('PENDING','RUNNING','SLEEPING')`);
    await q.query(`CREATE INDEX workflow_runs_listing ON workflow_runs (namespace, created_at DESC, id DESC)`);
    await q.query(`CREATE UNIQUE INDEX workflow_runs_external_id ON workflow_runs (namespace, external_id)
      WHERE external_id IS NOT NULL AND status IN ('PENDING','RUNNING','SLEEPING')`);
    await q.query(`CREATE UNIQUE INDEX workflow_runs_schedule_fire ON workflow_runs (schedule_id, fire_time)
      WHERE schedule_id IS NOT NULL`);

    await q.query(`
      CREATE TABLE workflow_payloads (
        run_id uuid PRIMARY KEY REFERENCES workflow_runs (id) ON DELETE CASCADE,
        input bytea,
        input_encoding text,
        output bytea,
        output_encoding text
      )`);

    await q.query(`
      CREATE TABLE step_runs (
        run_id uuid NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
        step_id text NOT NULL,
        seq integer NOT NULL,
        kind text NOT NULL CHECK (kind IN ('FUNCTION','SLEEP')),
        status text NOT NULL CHECK (status IN ('RUNNING','COMPLETED','FAILED')),
        attempt integer NOT NULL DEFAULT 1,
        output bytea,
        output_encoding text,
        error_message text,
        error_type text,
        error_stack text,
        final boolean NOT NULL DEFAULT false,
        retry_at timestamptz,
        wake_up_at timestamptz,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, step_id)
      )`);
    await q.query(`CREATE INDEX step_runs_by_seq ON step_runs (run_id, seq)`);

    await q.query(`
      CREATE TABLE workers (
        id uuid PRIMARY KEY,
        namespace text NOT NULL,
        task_queue text NOT NULL,
        hostname text NOT NULL,
        pid integer NOT NULL,
        version text NOT NULL DEFAULT '',
        workflow_types text[] NOT NULL,
        max_concurrent integer NOT NULL,
        type_concurrency jsonb NOT NULL DEFAULT '{}',
        labels jsonb NOT NULL DEFAULT '{}',
        status text NOT NULL CHECK (status IN ('ONLINE','DRAINING','OFFLINE')),
        active_count integer NOT NULL DEFAULT 0,
        registered_at timestamptz NOT NULL DEFAULT now(),
        last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX workers_identity ON workers (namespace, task_queue, hostname, pid)
      WHERE status <> 'OFFLINE'`);
    await q.query(`CREATE INDEX workers_heartbeat ON workers (last_heartbeat_at) WHERE status <> 'OFFLINE'`);

    await q.query(`
      CREATE TABLE schedules (
        id uuid PRIMARY KEY,
        namespace text NOT NULL,
        schedule_id text NOT NULL,
        workflow_type text NOT NULL,
        task_queue text NOT NULL,
        cron text NOT NULL,
        timezone text NOT NULL DEFAULT 'UTC',
        input bytea,
        input_encoding text,
        max_catchup integer NOT NULL DEFAULT 100,
        paused boolean NOT NULL DEFAULT false,
        next_fire_at timestamptz,
        last_fired_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (namespace, schedule_id)
      )`);
    await q.query(`CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE NOT paused`);

    // Queue counters: transitions append deltas (no hot row to lock); the
    // watchdog folds them into queue_counters and reconciles against the runs.
    await q.query(`
      CREATE TABLE queue_counters (
        namespace text NOT NULL,
        task_queue text NOT NULL,
        pending bigint NOT NULL DEFAULT 0,
        running bigint NOT NULL DEFAULT 0,
        sleeping bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (namespace, task_queue)
      )`);
    await q.query(`
      CREATE TABLE queue_counter_deltas (
        id bigserial PRIMARY KEY,
        namespace text NOT NULL,
        task_queue text NOT NULL,
        pending integer NOT NULL,
        running integer NOT NULL,
        sleeping integer NOT NULL
      )`);
    // Statement-level triggers with transition tables: one delta row per
    // (statement, queue), so a batch claim of 50 runs costs one insert.
    const counted = (rows: string, sign: string) => `
      SELECT namespace, task_queue, ${sign}(status = 'PENDING')::int AS pending,
             ${sign}(status = 'RUNNING')::int AS running, ${sign}(status = 'SLEEPING')::int AS sleeping
      FROM ${rows}`;
    const triggers: Array<[string, string, string]> = [
      ['INSERT', 'NEW TABLE AS new_rows', counted('new_rows', '')],
      ['DELETE', 'OLD TABLE AS old_rows', counted('old_rows', '-')],
      [
        'UPDATE',
        'OLD TABLE AS old_rows NEW TABLE AS new_rows',
        `${counted('new_rows', '')} UNION ALL ${counted('old_rows', '-')}`,
      ],
    ];
    for (const [event, referencing, rows] of triggers) {
      const fn = `baton_count_${event.toLowerCase()}`;
      await q.query(`
        CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO queue_counter_deltas (namespace, task_queue, pending, running, sleeping)
          SELECT namespace, task_queue, sum(pending), sum(running), sum(sleeping)
          FROM (${rows}) d
          GROUP BY namespace, task_queue
          HAVING sum(pending) <> 0 OR sum(running) <> 0 OR sum(sleeping) <> 0;
          RETURN NULL;
        END $$`);
      await q.query(`CREATE TRIGGER workflow_runs_count_${event.toLowerCase()} AFTER ${event} ON workflow_runs
        REFERENCING ${referencing} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'queue_counter_deltas',
      'queue_counters',
      'schedules',
      'workers',
      'step_runs',
      'workflow_payloads',
      'workflow_runs',
    ]) {
      await q.query(`DROP TABLE IF EXISTS ${table} CASCADE`);
    }
    for (const event of ['insert', 'update', 'delete']) {
      await q.query(`DROP FUNCTION IF EXISTS baton_count_${event}() CASCADE`);
    }
  }
}
