import { InitialSchema1764000000000 } from './1764000000000-initial-schema';

/** In order. Migrations are immutable once merged: add a new one, never edit. */
export const MIGRATIONS = [InitialSchema1764000000000];
