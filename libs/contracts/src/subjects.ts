/**
 * NATS message patterns. The messaging library prefixes every pattern with the
 * deployment's subject prefix (one per test file), so these are relative names.
 * Namespace and queue names may contain any character, so they never appear raw
 * in a subject: `encodeSubjectToken` makes them a single safe token.
 */
export const Patterns = {
  /** Request/reply, served by matching in one queue group. */
  poll: 'matching.poll',
  /** Event, broadcast to every matching replica: `work.available.<ns>.<queue>`. */
  workAvailable: 'work.available',
  /** Event, broadcast to every frontend replica: `run.finished.<ns>`. */
  runFinished: 'run.finished',
  /** Event, broadcast to every frontend replica: `run.cancelled.<ns>` (a RUNNING run's worker must stop it). */
  runCancelled: 'run.cancelled',
  /** Event, broadcast to every matching replica: `work.due.<ns>.<queue>` (a run becomes claimable at a set time). */
  workDue: 'work.due',
  /** Event, broadcast to the watchdog and scheduler replicas: `timer.due.<kind>` (a new, possibly earlier due time). */
  timerDue: 'timer.due',
  /** Event, broadcast to every matching replica: `worker.changed` (what matching cached about a worker is stale). */
  workerChanged: 'worker.changed',
  /** Event, broadcast to every frontend replica: `key.revoked` (drop the cached key at once). */
  apiKeyRevoked: 'key.revoked',
} as const;

/** NATS queue group of the matching replicas for poll requests. */
export const MATCHING_QUEUE_GROUP = 'baton-matching';

/** base64url of the UTF-8 bytes: only [A-Za-z0-9_-], never empty, never a wildcard. */
export function encodeSubjectToken(name: string): string {
  const encoded = Buffer.from(name, 'utf8').toString('base64url');
  return encoded.length === 0 ? '_' : encoded;
}

export function decodeSubjectToken(token: string): string {
  return token === '_' ? '' : Buffer.from(token, 'base64url').toString('utf8');
}

export function workAvailableSubject(namespace: string, queue: string): string {
  return `${Patterns.workAvailable}.${encodeSubjectToken(namespace)}.${encodeSubjectToken(queue)}`;
}

export function runFinishedSubject(namespace: string): string {
  return `${Patterns.runFinished}.${encodeSubjectToken(namespace)}`;
}

export function runCancelledSubject(namespace: string): string {
  return `${Patterns.runCancelled}.${encodeSubjectToken(namespace)}`;
}

export function workDueSubject(namespace: string, queue: string): string {
  return `${Patterns.workDue}.${encodeSubjectToken(namespace)}.${encodeSubjectToken(queue)}`;
}

/** The kinds of due time a precise timer waits for: sleepers and deadlines (watchdog), cron fires (scheduler). */
export type TimerKind = 'wake' | 'deadline' | 'schedule';

export function timerDueSubject(kind: TimerKind): string {
  return `${Patterns.timerDue}.${kind}`;
}

/** A valid subject prefix: dot-separated tokens of safe characters. */
export const SUBJECT_PREFIX_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
