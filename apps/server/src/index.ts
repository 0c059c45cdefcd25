export { startAllInOne } from './launcher';
export type { AllInOne, AllInOneOptions } from './launcher';
export { startEmbeddedDatabase, EMBEDDED_USER, EMBEDDED_PASSWORD } from './embedded-database';
export type { EmbeddedDatabase, EmbeddedDatabaseOptions } from './embedded-database';
