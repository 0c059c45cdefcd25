import { LIMITS, PATCH_MARKER_PREFIX } from '@baton/contracts';
import { NonRetryableError } from './errors';

/** The marker step id of patch `patchId` (ctx.patched), checked as the server would check a step id. */
export function patchMarkerId(patchId: string): string {
  const markerId = `${PATCH_MARKER_PREFIX}${patchId}`;
  if (typeof patchId !== 'string' || patchId === '' || Buffer.byteLength(markerId) > LIMITS.nameBytes) {
    throw new NonRetryableError(
      `patch id must be a non-empty string of at most ${LIMITS.nameBytes - PATCH_MARKER_PREFIX.length} bytes`,
      'INVALID_ARGUMENT',
    );
  }
  return markerId;
}

/** Refuses a user's step id that could be taken for a patch marker. */
export function refuseReservedId(stepId: string): void {
  if (typeof stepId === 'string' && stepId.startsWith(PATCH_MARKER_PREFIX)) {
    throw new NonRetryableError(
      `step id "${stepId}": ids starting with "${PATCH_MARKER_PREFIX}" are reserved for ctx.patched() markers`,
      'INVALID_ARGUMENT',
    );
  }
}
