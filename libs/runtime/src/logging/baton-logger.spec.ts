import { Logger } from '@nestjs/common';
import { BatonLogger, announce, installLogger, logLevels, resolveLogFormat } from './baton-logger';
import { addLogFields, runWithLogFields } from './log-context';

/** Lines written to stdout and stderr while `work` runs. */
function capture(work: () => void): { stdout: string[]; stderr: string[] } {
  const written = { stdout: [] as string[], stderr: [] as string[] };
  const spies = (['stdout', 'stderr'] as const).map((name) =>
    jest.spyOn(process[name], 'write').mockImplementation((chunk: string | Uint8Array) => {
      written[name].push(...String(chunk).split('\n').filter(Boolean));
      return true;
    }),
  );
  try {
    work();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return written;
}

const parse = (lines: string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('logging', () => {
  afterEach(() => Logger.overrideLogger(logLevels('error')));

  it('auto is pretty on a terminal and JSON elsewhere', () => {
    expect(resolveLogFormat('auto', { isTTY: true })).toBe('pretty');
    expect(resolveLogFormat('auto', { isTTY: false })).toBe('json');
    expect(resolveLogFormat('auto', {})).toBe('json');
    expect(resolveLogFormat('pretty', {})).toBe('pretty');
    expect(resolveLogFormat('json', { isTTY: true })).toBe('json');
  });

  it('writes one JSON object per line with time, level, service, context and message', () => {
    const logger = new BatonLogger('matching', 'json', logLevels('info'));
    const { stdout } = capture(() => {
      logger.log('listening', 'Dispatcher');
      logger.warn('slow', 'Dispatcher');
      logger.debug('not at info', 'Dispatcher');
    });
    const [info, warn, ...rest] = parse(stdout);
    expect(rest).toEqual([]);
    expect(info).toMatchObject({ level: 'info', service: 'matching', context: 'Dispatcher', message: 'listening' });
    expect(Object.keys(info!).slice(0, 5)).toEqual(['time', 'level', 'service', 'context', 'message']);
    expect(new Date(info!.time as string).toISOString()).toBe(info!.time);
    expect(info!.pid).toBe(process.pid);
    expect(warn).toMatchObject({ level: 'warn', message: 'slow' });
  });

  it('carries the call context and structured fields; ours are never replaced', () => {
    installLogger({ logFormat: 'json', logLevel: 'debug' }, 'frontend');
    const logger = new Logger('Workflows');
    const { stdout, stderr } = capture(() =>
      runWithLogFields({ requestId: 'req-1', keyId: 'k1' }, () => {
        addLogFields({ runId: 'run-1' });
        logger.debug('claimed', { workerId: 'w-1', service: 'spoofed' });
        logger.error('boom', new Error('bad').stack);
      }),
    );
    expect(parse(stdout)).toEqual([
      expect.objectContaining({
        level: 'debug',
        service: 'frontend',
        context: 'Workflows',
        message: 'claimed',
        requestId: 'req-1',
        keyId: 'k1',
        runId: 'run-1',
        workerId: 'w-1',
      }),
    ]);
    const [error] = parse(stderr);
    expect(error).toMatchObject({ level: 'error', message: 'boom', requestId: 'req-1' });
    expect(error!.stack).toMatch(/Error: bad/);
    // Outside the call, nothing of it remains.
    const after = parse(capture(() => logger.warn('later')).stdout);
    expect(after[0]).not.toHaveProperty('requestId');
  });

  it("writes Nest's own start-up lines (modules, routes) at debug", () => {
    const info = new BatonLogger('server', 'json', logLevels('info'));
    const debug = new BatonLogger('server', 'json', logLevels('debug'));
    const mapped = (logger: BatonLogger) => () => {
      logger.log('Mapped {/healthz, GET} route', 'RouterExplorer');
      logger.log('FrontendModule dependencies initialized', 'InstanceLoader');
      logger.log('listening on http://127.0.0.1:8080', 'frontend');
    };
    expect(parse(capture(mapped(info)).stdout).map((line) => line.message)).toEqual([
      'listening on http://127.0.0.1:8080',
    ]);
    expect(parse(capture(mapped(debug)).stdout).map((line) => [line.level, line.context])).toEqual([
      ['debug', 'RouterExplorer'],
      ['debug', 'InstanceLoader'],
      ['info', 'frontend'],
    ]);
  });

  it('announces a line at info whatever the level', () => {
    installLogger({ logFormat: 'json', logLevel: 'warn' }, 'server');
    const { stdout } = capture(() => {
      new Logger('server').log('not at warn');
      announce('Baton is ready', 'server');
    });
    expect(parse(stdout)).toEqual([
      expect.objectContaining({ level: 'info', service: 'server', context: 'server', message: 'Baton is ready' }),
    ]);
  });

  it('keeps the process name given first, whatever later apps start', () => {
    installLogger({ logFormat: 'json', logLevel: 'info' }, 'watchdog');
    const again = installLogger({ logFormat: 'json', logLevel: 'info' });
    expect(again.service).toBe('watchdog');
  });

  it('pretty text carries no colour codes when stdout is not a terminal', () => {
    const tty = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
    Object.defineProperty(process.stdout, 'isTTY', { value: false, configurable: true });
    try {
      const logger = new BatonLogger('scheduler', 'pretty', logLevels('info'));
      const { stdout } = capture(() => runWithLogFields({ requestId: 'r9' }, () => logger.log('fired', 'Schedules')));
      expect(stdout).toHaveLength(1);
      expect(stdout[0]).not.toContain('\u001b[');
      expect(stdout[0]).toMatch(/\[scheduler\].*LOG \[Schedules\] fired .*requestId: 'r9'/);
    } finally {
      if (tty) Object.defineProperty(process.stdout, 'isTTY', tty);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    }
  });
});
