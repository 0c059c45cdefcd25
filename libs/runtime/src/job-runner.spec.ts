import { Logger } from '@nestjs/common';
import type { LoggerService } from '@nestjs/common';
import { buildConfig } from '@baton/contracts';
import { JobRunner } from './job-runner';
import { logLevels } from './logging';

/** Resolves once `condition` holds, checking every few milliseconds (fails the test after 5 s). */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('JobRunner', () => {
  const lines: string[] = [];
  const sink: LoggerService = {
    log: (message: string) => lines.push(`log ${message}`),
    error: (message: string) => lines.push(`error ${message}`),
    warn: (message: string) => lines.push(`warn ${message}`),
  };

  beforeEach(() => {
    lines.length = 0;
    Logger.overrideLogger(sink);
  });
  afterEach(() => Logger.overrideLogger(logLevels('error')));

  it('logs a job failing on every tick once, then says when it recovered', async () => {
    const runner = new JobRunner(buildConfig());
    let passes = 0;
    let failing = true;
    runner.schedule(
      {
        name: 'wake-sleepers',
        run: async () => {
          passes++;
          if (failing) throw new Error('database unavailable: connect ECONNREFUSED');
          return false;
        },
      },
      10,
    );
    try {
      await until(() => passes >= 20);
      failing = false;
      await until(() => lines.some((line) => line.startsWith('log ')));
    } finally {
      await runner.beforeApplicationShutdown();
    }
    expect(lines[0]).toBe('error wake-sleepers failed: database unavailable: connect ECONNREFUSED');
    expect(lines.filter((line) => line.startsWith('error '))).toHaveLength(1);
    expect(lines.at(-1)).toMatch(/^log wake-sleepers recovered after \d{2,} failed passes$/);
  });
});
