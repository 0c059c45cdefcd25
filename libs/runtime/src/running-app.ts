import type { INestApplication } from '@nestjs/common';

/** What each app's bootstrap returns: enough for the launcher and the harness to stop it. */
export interface RunningApp {
  name: string;
  app: INestApplication;
  /** Stops accepting work, drains, closes connections. Idempotent. */
  close(): Promise<void>;
}

export function runningApp(name: string, app: INestApplication): RunningApp {
  let closing: Promise<void> | undefined;
  return {
    name,
    app,
    close: () => (closing ??= app.close()),
  };
}
