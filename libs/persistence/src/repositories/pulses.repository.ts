import type { Sql } from '../sql';
import { ms } from '../transitions';

/**
 * A service instance's pulse. up_since restarts when the previous pulse is
 * older than the gap ($3 ms): the instance (or its database) was away, and
 * workers could not heartbeat meanwhile. Pulses of instances long gone are
 * dropped on the way.
 */
const PULSE = `
  WITH gone AS (DELETE FROM service_pulses WHERE pulsed_at < now() - interval '1 day')
  INSERT INTO service_pulses (instance_id, kind, up_since, pulsed_at) VALUES ($1, $2, now(), now())
  ON CONFLICT (instance_id) DO UPDATE
  SET up_since = CASE WHEN service_pulses.pulsed_at < now() - ${ms('$3')} THEN now() ELSE service_pulses.up_since END,
      pulsed_at = now()`;

export class PulsesRepository {
  constructor(private readonly sql: Sql) {}

  async pulse(instanceId: string, kind: string, gapMs: number): Promise<void> {
    await this.sql.rows(PULSE, [instanceId, kind, gapMs]);
  }
}
