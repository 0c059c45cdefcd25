import { BatonError } from './errors';
import { checkOptionalTraceparent, formatTraceparent, parseTraceparent } from './trace-context';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

describe('W3C traceparent', () => {
  test('a valid traceparent parses into SpanContext fields and formats back as it came', () => {
    const value = `00-${TRACE_ID}-${SPAN_ID}-01`;
    expect(parseTraceparent(value)).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 });
    expect(formatTraceparent(parseTraceparent(value)!)).toBe(value);
    expect(formatTraceparent({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 0 })).toBe(
      `00-${TRACE_ID}-${SPAN_ID}-00`,
    );
  });

  test('a later version is read as 00, extra fields and all', () => {
    expect(parseTraceparent(`cc-${TRACE_ID}-${SPAN_ID}-01-what-the-future-holds`)).toEqual({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: 1,
    });
  });

  test.each([
    ['absent', undefined],
    ['not text', 42],
    ['empty', ''],
    ['upper case', `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`],
    ['version ff', `ff-${TRACE_ID}-${SPAN_ID}-01`],
    ['version 00 with extra fields', `00-${TRACE_ID}-${SPAN_ID}-01-extra`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN_ID}-01`],
    ['all-zero span id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
    ['short trace id', `00-${TRACE_ID.slice(1)}-${SPAN_ID}-01`],
    ['overlong', `cc-${TRACE_ID}-${SPAN_ID}-01-${'x'.repeat(600)}`],
  ])('%s is no traceparent (ignored, as W3C asks of a receiver)', (_, value) => {
    expect(parseTraceparent(value)).toBeNull();
  });

  test('our own API field: empty is none, valid is canonical, malformed is INVALID_ARGUMENT naming the field', () => {
    expect(checkOptionalTraceparent('', 'traceparent')).toBeNull();
    expect(checkOptionalTraceparent(undefined, 'traceparent')).toBeNull();
    expect(checkOptionalTraceparent(`01-${TRACE_ID}-${SPAN_ID}-03-x`, 'traceparent')).toBe(
      `00-${TRACE_ID}-${SPAN_ID}-03`,
    );
    let thrown: unknown;
    try {
      checkOptionalTraceparent('00-nope', 'starts[0].traceparent');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BatonError);
    expect(thrown).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'starts[0].traceparent' });
  });
});
