import { readFileSync } from 'node:fs';
import { UsageError } from './errors';

/** `--input '<json>'` or `--input-file <path>` (`-` reads stdin). */
export interface InputOptions {
  input?: string;
  inputFile?: string;
}

function parse(text: string, from: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${from} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The payload given on the command line, parsed; undefined when none was given. */
export function readInput(options: InputOptions): unknown {
  if (options.input !== undefined && options.inputFile !== undefined) {
    throw new UsageError('give --input or --input-file, not both');
  }
  if (options.input !== undefined) return parse(options.input, '--input');
  if (options.inputFile === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(options.inputFile === '-' ? 0 : options.inputFile, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --input-file ${options.inputFile}: ${(err as Error).message}`);
  }
  return parse(text, `--input-file ${options.inputFile}`);
}
