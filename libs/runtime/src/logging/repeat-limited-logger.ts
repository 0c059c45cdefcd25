import { LOGGING } from '@baton/contracts';

/** The part of Nest's Logger this wraps. */
export interface ErrorLogger {
  error(message: string): void;
  warn(message: string): void;
}

interface Window {
  /** When the message was last written. */
  writtenAt: number;
  /** Occurrences held back since. */
  held: number;
}

/** Past this many remembered messages, the oldest are forgotten (their held counts with them). */
const MAX_REMEMBERED = 100;

/**
 * A failure that recurs on every tick (a database outage fails every job
 * pass and every claim round, several times a second) is written at most
 * once per window per level and message; the next line written for it says
 * how many were held back ("(repeated 23 times in 5 s)"). One per logger
 * context: the message is the key, so include what tells failures apart
 * (the job's name), not what changes every time (a timestamp).
 */
export class RepeatLimitedLogger {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly logger: ErrorLogger,
    private readonly windowMs: number = LOGGING.repeatWindowMs,
    private readonly now: () => number = Date.now,
  ) {}

  error(message: string): void {
    this.write('error', message);
  }

  warn(message: string): void {
    this.write('warn', message);
  }

  private write(level: 'error' | 'warn', message: string): void {
    const key = `${level} ${message}`;
    const now = this.now();
    const window = this.windows.get(key);
    if (window && now - window.writtenAt < this.windowMs) {
      window.held++;
      return;
    }
    const summary = window?.held
      ? ` (repeated ${window.held} times in ${Math.round((now - window.writtenAt) / 1000)} s)`
      : '';
    this.logger[level](`${message}${summary}`);
    this.windows.delete(key);
    this.windows.set(key, { writtenAt: now, held: 0 });
    if (this.windows.size > MAX_REMEMBERED) this.forgetOld(now);
  }

  /** Entries are in the order they were written: the oldest go first. */
  private forgetOld(now: number): void {
    for (const [key, window] of this.windows) {
      if (this.windows.size <= MAX_REMEMBERED && now - window.writtenAt < 2 * this.windowMs) return;
      this.windows.delete(key);
    }
  }
}
