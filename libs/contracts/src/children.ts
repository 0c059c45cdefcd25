/** Child workflows (`ctx.child`): their limits and the error type a cancelled child is recorded with. */
export const CHILD_LIMITS = Object.freeze({
  /**
   * Other children one StartChild may name as also awaited (`awaiting`): the
   * parent parks only if none of them has finished. A workflow awaiting more
   * children at once parks on the first this many.
   */
  maxAwaiting: 1_000,
});

/**
 * The error type of a CHILD step whose child was CANCELLED: the SDK throws
 * ChildWorkflowCancelledError for it (any other finish but COMPLETED is a
 * ChildWorkflowFailedError with the child's own error type).
 */
export const CHILD_CANCELLED_ERROR_TYPE = 'ChildWorkflowCancelled';
