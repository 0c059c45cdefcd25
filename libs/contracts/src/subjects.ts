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

/** A valid subject prefix: dot-separated tokens of safe characters. */
export const SUBJECT_PREFIX_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
