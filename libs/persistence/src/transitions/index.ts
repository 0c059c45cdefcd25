/**
 * The run state machine (DESIGN §4), one file per transition. Each exports its
 * SQL and a typed function; repositories and apps call these, never their own
 * copies. Every transition is one guarded statement or one short transaction.
 *
 * | transition          | from → to                                   | guard                                   | called by            |
 * |---------------------|---------------------------------------------|-----------------------------------------|----------------------|
 * | start-run           | (none) → PENDING                            | external id free among live runs        | frontend             |
 * | claim               | PENDING, due SLEEPING → RUNNING (undelivered)| SKIP LOCKED; worker ONLINE, limits      | matching             |
 * | start-claimed       | (none) → RUNNING (undelivered), else PENDING | claim's worker guard; none older (FIFO) | frontend (eager)     |
 * | heartbeat           | RUNNING → RUNNING (delivered, lease renewed) | locked_by = worker, worker not OFFLINE  | frontend (heartbeat) |
 * | release             | RUNNING (undelivered) → PENDING, free       | lease epoch, NOT delivered              | frontend, matching   |
 * | steps               | step: none / FAILED → RUNNING → COMPLETED   | lease, step position and kind           | frontend (worker)    |
 * | park-for-retry      | RUNNING → PENDING until retry_at (step)     | lease (row locked)                      | frontend (worker)    |
 * | sleep               | RUNNING → SLEEPING (with the step before)   | lease, step position and kind           | frontend (worker)    |
 * | wake                | SLEEPING (due) → PENDING                    | past wake_up_at + grace, SKIP LOCKED    | watchdog             |
 * | complete-run        | RUNNING → COMPLETED (with its last step)    | lease; step position and kind           | frontend (worker)    |
 * | retry-run           | RUNNING → PENDING, attempt + 1 (policy)     | lease (row locked by fail-run)          | fail-run             |
 * | fail-run            | RUNNING → FAILED (policy spent)             | lease (row locked)                      | frontend (worker)    |
 * | recover-lease       | RUNNING, lease expired → PENDING / FAILED   | settled since last outage, SKIP LOCKED  | watchdog             |
 * | expire-workers      | worker → OFFLINE; its RUNNING → PENDING/FAILED | silent past threshold, settled        | watchdog             |
 * | hand-back           | worker → OFFLINE; its RUNNING → PENDING, free | worker deregisters                     | frontend             |
 * | cancel              | PENDING, RUNNING, SLEEPING → CANCELLED      | live status                             | frontend             |
 * | deadline            | PENDING, RUNNING, SLEEPING → FAILED         | deadline_at < now(), SKIP LOCKED        | watchdog             |
 * | start-child         | (none) → PENDING child; RUNNING → SLEEPING  | lease, step position and kind (CHILD)   | frontend (worker)    |
 * | child-runs          | a run's cascade → CANCELLED with it         | live, cancel_with_parent                | cancel (terminate)   |
 * | signal (send)       | SLEEPING on a wait for it → PENDING; stored  | run live, row locked first              | frontend (client)    |
 * | signal (wait)       | step → COMPLETED, or RUNNING → SLEEPING      | lease (row locked first), step position | frontend (worker)    |
 * | terminate           | PENDING, RUNNING, SLEEPING → TERMINATED     | live status (+ history entry)           | frontend (operator)  |
 * | retry-failed        | FAILED → PENDING, unfinished steps deleted  | FAILED, external id free (+ history)    | frontend (operator)  |
 * | reset               | any → PENDING, steps from a seq on deleted  | run locked, external id free (+ history)| frontend (operator)  |
 *
 * Fired schedule runs (none → PENDING) are inserted by SchedulesRepository.fire,
 * unique per (schedule, fire time).
 *
 * Group commit (../group-commit.ts): start-run, steps (CompleteStep) and
 * complete-run also have a multi-row form (START_RUNS, COMPLETE_STEPS,
 * COMPLETE_RUNS: one statement over unnest()ed arrays, the same guards per
 * item) for starts and completions that arrive while one of their kind is in
 * flight. An item the multi-row form did not apply goes through the
 * single-row path, which says why.
 */
export * from './fragments';
export * from './lease';
export * from './moved';
export * from './finished';
export * from './start-run';
export * from './claim';
export * from './start-claimed';
export * from './heartbeat';
export * from './release';
export * from './steps';
export * from './park-for-retry';
export * from './sleep';
export * from './wake';
export * from './complete-run';
export * from './retry-run';
export * from './fail-run';
export * from './recover';
export * from './recover-lease';
export * from './expire-workers';
export * from './hand-back';
export * from './cancel';
export * from './deadline';
export * from './signal';
export * from './history';
export * from './terminate';
export * from './retry-failed';
export * from './reset';
export * from './start-child';
export * from './child-runs';
