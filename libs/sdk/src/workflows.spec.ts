import { BatonError } from '@baton/contracts';
import { defineWorkflow, isWorkflowDefinition } from './workflows';

describe('defineWorkflow', () => {
  test('names a handler as a workflow type, frozen', () => {
    const handler = async (_ctx: unknown, input: { n: number }) => input.n + 1;
    const order = defineWorkflow('order', handler);
    expect(order).toEqual({ workflowType: 'order', handler });
    expect(Object.isFrozen(order)).toBe(true);
    expect(isWorkflowDefinition(order)).toBe(true);
    expect(isWorkflowDefinition('order')).toBe(false);
  });

  test.each([
    ['empty', ''],
    ['not a string', 42],
    ['over the name limit', 'x'.repeat(1000)],
  ])('refuses a name %s as INVALID_ARGUMENT on field workflowType', (_why, name) => {
    const err = catchError(() => defineWorkflow(name as string, async () => 1));
    expect(err).toBeInstanceOf(BatonError);
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workflowType' });
  });

  test('refuses a handler that is not a function', () => {
    const err = catchError(() => defineWorkflow('order', 'run' as never));
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'handler' });
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
