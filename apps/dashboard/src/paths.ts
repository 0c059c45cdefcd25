/** The dashboard's own URLs (under the router's basename, /ui). */
export const namespacePath = (namespace: string): string => `/namespaces/${encodeURIComponent(namespace)}`;

export const runPath = (namespace: string, runId: string): string =>
  `${namespacePath(namespace)}/runs/${encodeURIComponent(runId)}`;
