/** The invariants a chaos run checks, in the order the report lists them. */
export const INVARIANTS = {
  lost: 'every started run exists and was accepted (no start lost, no run missing)',
  stuck: 'every run is terminal within the settle deadline',
  failed: 'no run FAILED or CANCELLED (only faults happened, and the retry policy is the default)',
  'duplicate-completion':
    'a completed step or a terminal run is never completed again (completion time/state unchanged)',
  'output-changed': 'a stored step or run output never changes once recorded',
  'wrong-output':
    'every recorded output is the one the workflow computes (and every step of a COMPLETED run is COMPLETED)',
  'body-after-completion': "no step body starts after its step's completion was recorded",
  'completion-without-execution': 'every step completion comes from a body execution that finished before it',
  'retry-spent':
    'a fault never spends the retry policy: no step failure, no workflow failure, no business attempt recorded',
  'false-staleness': 'a live worker is never marked OFFLINE unless a fault lasted at least the stale threshold',
} as const;

export type Invariant = keyof typeof INVARIANTS;

export interface Violation {
  invariant: Invariant;
  runId?: string;
  /** What happened, with the evidence (times, attempts, exec ids, worker pids). */
  detail: string;
}

export class Violations {
  readonly list: Violation[] = [];
  private readonly seen = new Set<string>();

  /** Adds a violation once per (invariant, key): a monitor that sees the same change every beat reports it once. */
  add(violation: Violation, key = `${violation.runId ?? ''}|${violation.detail}`): void {
    const id = `${violation.invariant}|${key}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.list.push(violation);
  }

  count(invariant: Invariant): number {
    return this.list.filter((v) => v.invariant === invariant).length;
  }
}
