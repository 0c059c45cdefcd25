import { Registry, collectDefaultMetrics } from 'prom-client';

/** The app's own prom-client Registry (the all-in-one process hosts four apps, each with one). */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/** A registry labelled with the app's name, with Node's default metrics. */
export function createRegistry(appName: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ app: appName });
  collectDefaultMetrics({ register: registry });
  return registry;
}
