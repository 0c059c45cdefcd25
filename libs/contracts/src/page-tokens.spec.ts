import { BatonError, ErrorCode } from './errors';
import { checkRunsPageToken, checkSchedulesPageToken, checkStepsPageToken, isCursorTimestamp } from './page-tokens';

const token = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
const RUN_ID = '0198a0f0-0000-7000-8000-000000000000';

function refused(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BatonError);
    expect({ code: (err as BatonError).code, field: (err as BatonError).field }).toEqual({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'pageToken',
    });
    return;
  }
  throw new Error('expected the token to be refused');
}

describe('page tokens', () => {
  it('absent or empty is the first page', () => {
    for (const check of [checkRunsPageToken, checkSchedulesPageToken, checkStepsPageToken]) {
      expect(check(undefined)).toBeNull();
      expect(check('')).toBeNull();
    }
  });

  it('accepts the tokens the repositories write', () => {
    const runs = token({ t: '2026-01-02 03:04:05.123456+00', i: RUN_ID });
    expect(checkRunsPageToken(runs)).toBe(runs);
    expect(checkRunsPageToken(token({ t: '2026-01-02 03:04:05+05:30', i: RUN_ID }))).not.toBeNull();
    const schedules = token({ s: 'nightly ☾' });
    expect(checkSchedulesPageToken(schedules)).toBe(schedules);
    expect(checkStepsPageToken('2147483647')).toBe('2147483647');
  });

  it.each([
    '2026-01-02 03:04:05.123456+16', // PostgreSQL: time zone displacement out of range
    '2026-01-02 03:04:05+99',
    '2026-01-02 03:04:05+15:60',
    '2026-01-02 03:04:05+00:00:60',
    '2026-02-30 03:04:05+00',
    '2026-01-02 24:00:00+00',
    '0000-01-02 03:04:05+00',
    '2026-01-02 03:04:05+00\u0000',
    '2026-01-02T03:04:05Z',
  ])('refuses a runs token whose time is %p', (t) => {
    expect(isCursorTimestamp(t)).toBe(false);
    refused(() => checkRunsPageToken(token({ t, i: RUN_ID })));
  });

  it('accepts offsets up to 15:59:59', () => {
    expect(isCursorTimestamp('2026-01-02 03:04:05-15:59:59')).toBe(true);
  });

  it.each([
    'garbage!',
    'a\u0000b',
    token([1]),
    token('x'),
    token({ t: '2026-01-02 03:04:05+00' }),
    token({ t: '2026-01-02 03:04:05+00', i: 'nope' }),
  ])('refuses the malformed runs token %p', (t) => refused(() => checkRunsPageToken(t)));

  it.each([token({ s: 'a\u0000b' }), token({ s: '' }), token({ s: 'x'.repeat(256) }), token({ s: 5 }), 'a\u0000'])(
    'refuses the malformed schedules token %p',
    (t) => refused(() => checkSchedulesPageToken(t)),
  );

  it.each(['-1', '1.5', '2147483648', '99999999999999999999', ' 1', '1\u0000', 'abc'])(
    'refuses the malformed steps token %p',
    (t) => refused(() => checkStepsPageToken(t)),
  );

  it('refuses a token that is not one string (a repeated query parameter)', () => {
    refused(() => checkRunsPageToken(['a', 'b']));
    refused(() => checkStepsPageToken(5));
  });
});
