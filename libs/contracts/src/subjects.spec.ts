import {
  decodeSubjectToken,
  encodeSubjectToken,
  MATCHING_QUEUE_GROUP,
  Patterns,
  runCancelledSubject,
  runFinishedSubject,
  SUBJECT_PREFIX_RE,
  timerDueSubject,
  workAvailableSubject,
  workDueSubject,
} from './subjects';

const SAFE_TOKEN = /^[A-Za-z0-9_-]+$/;

const samples = [
  '',
  'default',
  'orders',
  'a.b.c',
  '.',
  '..',
  '*',
  '>',
  'orders.*',
  'work.>',
  'with space',
  ' ',
  '\t\n',
  'naïve café',
  '日本語のキュー',
  '🚀🔥👩‍👩‍👧',
  'Ω≈ç√∫',
  'mixed.*.> end',
  '_',
  '-',
  '__',
  'a/b\\c',
  '$SYS',
  'x'.repeat(255),
  '\u0000nul',
];

describe('encodeSubjectToken / decodeSubjectToken', () => {
  it.each(samples)('round-trips %p', (name) => {
    expect(decodeSubjectToken(encodeSubjectToken(name))).toBe(name);
  });

  it.each(samples)('encodes %p as one non-empty token of [A-Za-z0-9_-] only', (name) => {
    const token = encodeSubjectToken(name);
    expect(token).toMatch(SAFE_TOKEN);
    expect(token).not.toContain('.');
    expect(token).not.toContain('*');
    expect(token).not.toContain('>');
    expect(token).not.toMatch(/\s/);
  });

  it('encodes the empty string as "_"', () => {
    expect(encodeSubjectToken('')).toBe('_');
    expect(decodeSubjectToken('_')).toBe('');
  });

  it('keeps distinct names distinct', () => {
    const tokens = samples.map(encodeSubjectToken);
    expect(new Set(tokens).size).toBe(samples.length);
  });

  it('round-trips random Unicode text', () => {
    let seed = 42;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 500; i++) {
      const length = next() % 20;
      let text = '';
      for (let j = 0; j < length; j++) {
        let cp = next() % 0x110000;
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41; // lone surrogates are not Unicode text
        text += String.fromCodePoint(cp);
      }
      const token = encodeSubjectToken(text);
      expect(token).toMatch(SAFE_TOKEN);
      expect(decodeSubjectToken(token)).toBe(text);
    }
  });
});

describe('subjects', () => {
  it('builds work.available.<ns>.<queue> with encoded tokens', () => {
    expect(workAvailableSubject('default', 'orders')).toBe(
      `work.available.${encodeSubjectToken('default')}.${encodeSubjectToken('orders')}`,
    );
  });

  it('keeps a work-available subject at exactly four tokens whatever the names contain', () => {
    const subject = workAvailableSubject('team.a *', 'q.>.x');
    const tokens = subject.split('.');
    expect(tokens).toHaveLength(4);
    expect(tokens.slice(0, 2)).toEqual(['work', 'available']);
    expect(decodeSubjectToken(tokens[2]!)).toBe('team.a *');
    expect(decodeSubjectToken(tokens[3]!)).toBe('q.>.x');
    expect(subject).toMatch(SUBJECT_PREFIX_RE);
  });

  it('builds run.finished.<ns> with an encoded token', () => {
    expect(runFinishedSubject('default')).toBe(`run.finished.${encodeSubjectToken('default')}`);
    const tokens = runFinishedSubject('a.b>').split('.');
    expect(tokens).toHaveLength(3);
    expect(tokens.slice(0, 2)).toEqual(['run', 'finished']);
    expect(decodeSubjectToken(tokens[2]!)).toBe('a.b>');
  });

  it('gives empty names a token too', () => {
    expect(workAvailableSubject('', '')).toBe('work.available._._');
    expect(runFinishedSubject('')).toBe('run.finished._');
    expect(runCancelledSubject('a.b>')).toBe(`run.cancelled.${encodeSubjectToken('a.b>')}`);
  });

  it('exposes the relative patterns and the queue group', () => {
    expect(Patterns).toEqual({
      poll: 'matching.poll',
      workAvailable: 'work.available',
      runFinished: 'run.finished',
      runCancelled: 'run.cancelled',
      workDue: 'work.due',
      timerDue: 'timer.due',
      workerChanged: 'worker.changed',
      apiKeyRevoked: 'key.revoked',
    });
    expect(workDueSubject('', 'q.>')).toBe(`work.due._.${encodeSubjectToken('q.>')}`);
    expect(timerDueSubject('wake')).toBe('timer.due.wake');
    expect(MATCHING_QUEUE_GROUP).toBe('baton-matching');
  });
});

describe('SUBJECT_PREFIX_RE', () => {
  it.each(['baton', 'baton.test', 'test_1.run-2', 'a.b.c'])('accepts %p', (prefix) => {
    expect(SUBJECT_PREFIX_RE.test(prefix)).toBe(true);
  });

  it.each(['', '.baton', 'baton.', 'a..b', 'a.*', 'a.>', 'has space', 'ünïcode'])('rejects %p', (prefix) => {
    expect(SUBJECT_PREFIX_RE.test(prefix)).toBe(false);
  });
});
