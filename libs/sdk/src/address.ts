import { SDK_DEFAULTS } from '@baton/contracts';

/** Where a Client or Worker connects: its `address` option, else BATON_ADDRESS, else localhost:50051. */
export function addressOf(address: string | undefined): string {
  return address ?? (process.env.BATON_ADDRESS || SDK_DEFAULTS.address);
}
