import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Faults are not attempts (DESIGN §5 invariants 8 and 12):
 *  - `delivered`: a claim counts as delivered only once the worker acknowledges
 *    it; an undelivered claim comes back fast and costs nothing.
 *  - `recoveries`: infrastructure recoveries (lost lease, stale worker), kept
 *    apart from the business attempts the retry policy spends
 *    (attempt - recoveries).
 *  - `service_pulses`: frontends record that they are up, so the watchdog can
 *    tell a silent worker from one that had nobody to heartbeat to.
 */
export class DeliveryAndRecovery1765000000000 implements MigrationInterface {
  name = 'DeliveryAndRecovery1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE workflow_runs
        ADD COLUMN delivered boolean NOT NULL DEFAULT false,
        ADD COLUMN recoveries integer NOT NULL DEFAULT 0,
        ADD COLUMN last_recovery_reason text`);
    await q.query(`
      CREATE TABLE service_pulses (
        instance_id uuid PRIMARY KEY,
        kind text NOT NULL,
        up_since timestamptz NOT NULL,
        pulsed_at timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS service_pulses`);
    await q.query(`
      ALTER TABLE workflow_runs
        DROP COLUMN IF EXISTS delivered,
        DROP COLUMN IF EXISTS recoveries,
        DROP COLUMN IF EXISTS last_recovery_reason`);
  }
}
