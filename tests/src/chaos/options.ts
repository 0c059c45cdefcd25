import { PROFILES } from './profiles';
import type { ChaosProfile } from './profiles';

/** Profile selection and overrides from CLI flags (`--runs 100`) or the environment (`CHAOS_RUNS=100`). */
export function profileFrom(
  argv: string[],
  env: Record<string, string | undefined>,
): { profile: ChaosProfile; keep: boolean } {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (name === 'keep') flags.set('keep', '1');
    else if (inline !== undefined) flags.set(name, inline);
    else if (argv[i + 1] !== undefined) flags.set(name, argv[++i]!);
    else throw new Error(`--${name} needs a value`);
  }
  const known = ['profile', 'runs', 'steps', 'window', 'workers', 'seed', 'keep'];
  for (const name of flags.keys())
    if (!known.includes(name)) throw new Error(`unknown option --${name} (known: ${known.join(', ')})`);
  const pick = (name: string) => flags.get(name) ?? env[`CHAOS_${name.toUpperCase()}`];
  const name = pick('profile') ?? 'short';
  if (name !== 'short' && name !== 'long') throw new Error(`profile must be short or long (got "${name}")`);
  const number = (key: string): number | undefined => {
    const text = pick(key);
    if (text === undefined || text === '') return undefined;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${key} must be a whole number (got "${text}")`);
    return value;
  };
  const base = PROFILES[name];
  const window = number('window');
  const profile: ChaosProfile = {
    ...base,
    runs: number('runs') ?? base.runs,
    steps: number('steps') ?? base.steps,
    workers: number('workers') ?? base.workers,
    seed: number('seed') ?? base.seed,
    chaosWindowMs: window !== undefined ? window * 1000 : base.chaosWindowMs,
  };
  const keep = ['1', 'true'].includes(pick('keep') ?? '');
  return { profile, keep };
}
