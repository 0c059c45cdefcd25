/**
 * Limits on the shape of what callers send, checked at the edge before
 * anything reads a request (invariant 11). Kept apart from `LIMITS` (the
 * documented contract of DESIGN §13) because these guard the server itself.
 */
export const INPUT_LIMITS = Object.freeze({
  /**
   * Deepest JSON nesting (arrays and objects) accepted in a request body or a
   * JSON payload. Real data stays far below; JSON.stringify overflows the
   * stack at a few thousand levels, and a run's input is stringified again on
   * every read, so the cap sits well under that.
   */
  maxJsonDepth: 512,
  /** Characters kept of a worker's error message, type and stack (each); longer text is cut, never refused. */
  maxErrorTextChars: 32 * 1024,
  /** Characters of a caller's bad value quoted back in an error message. */
  quotedValueChars: 64,
  /** Highest step sequence number a worker may name (a step's `seq`). */
  maxStepSeq: 1_000_000,
  /** Highest value of a protobuf int32 field (lease epochs, process ids): the same bound over HTTP. */
  maxInt32: 2 ** 31 - 1,
});

/**
 * gRPC messages whose strings are free text to be stored whatever they hold
 * (a worker's error: message, type, stack). The decoder lets invalid UTF-8
 * through there (it arrives as U+FFFD) instead of refusing it, so a failure
 * is never lost; every other string must be well-formed UTF-8.
 */
export const FREE_TEXT_MESSAGES: readonly string[] = Object.freeze(['baton.v1.ErrorInfo']);
