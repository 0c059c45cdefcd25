import { BatonError, ErrorCode } from '@baton/sdk';
import { runCli } from './cli';
import { hostAndPort } from './connect';
import { ExitCode, errorLine, exitCodeOf } from './errors';
import { readInput } from './input';

/** runCli in this process, with what it wrote. */
async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

describe('exit codes', () => {
  test('help and version exit 0; usage mistakes exit 2 before any connection', async () => {
    expect(await run('--help')).toMatchObject({ code: ExitCode.OK, stdout: expect.stringMatching(/^Usage: baton /) });
    expect((await run('--version')).code).toBe(ExitCode.OK);
    expect(await run('workflow', 'list', '--nope')).toMatchObject({
      code: ExitCode.USAGE,
      stderr: expect.stringMatching(/^error: unknown option '--nope'\n/),
    });
    expect((await run('workflow')).code).toBe(ExitCode.USAGE);
    expect((await run('workflow', 'describe')).code).toBe(ExitCode.USAGE);
    expect((await run('workflow', 'terminate', 'r1')).code).toBe(ExitCode.USAGE);
    expect((await run('workflow', 'list', '--limit', '0')).code).toBe(ExitCode.USAGE);
    expect(await run('workflow', 'start', 'x', '--input', '1', '--input-file', 'f')).toMatchObject({
      code: ExitCode.USAGE,
      stderr: 'error: give --input or --input-file, not both\n',
    });
  });

  test("the server's refusals exit 1, an unreachable or unavailable server 3", () => {
    expect(exitCodeOf(BatonError.notFound('run r1'))).toBe(ExitCode.REFUSED);
    expect(exitCodeOf(new BatonError(ErrorCode.PERMISSION_DENIED, 'no'))).toBe(ExitCode.REFUSED);
    expect(exitCodeOf(new BatonError(ErrorCode.UNAVAILABLE, 'down'))).toBe(ExitCode.UNAVAILABLE);
    expect(exitCodeOf(new BatonError(ErrorCode.DEADLINE_EXCEEDED, 'slow'))).toBe(ExitCode.UNAVAILABLE);
    expect(exitCodeOf(new Error('bug'))).toBe(ExitCode.REFUSED);
  });

  test('a BatonError prints its code, message and field', () => {
    expect(errorLine(BatonError.invalid('status', 'status must be one of ...'))).toBe(
      'error: INVALID_ARGUMENT: status must be one of ... (field: status)',
    );
    expect(errorLine(BatonError.notFound('workflow run r1'))).toBe('error: NOT_FOUND: workflow run r1 not found');
  });
});

describe('addresses', () => {
  test.each([
    ['localhost:50051', { host: 'localhost', port: 50051 }],
    ['127.0.0.1:7233', { host: '127.0.0.1', port: 7233 }],
    ['[::1]:50051', { host: '::1', port: 50051 }],
    ['dns:///baton:50051', null],
    ['unix:/tmp/baton.sock', null],
    ['localhost', null],
    ['localhost:0', null],
    ['localhost:70000', null],
  ])('hostAndPort(%p)', (address, parsed) => {
    expect(hostAndPort(address)).toEqual(parsed);
  });
});

describe('input', () => {
  test('--input is parsed as JSON; nothing given is no input', () => {
    expect(readInput({ input: '{"a":[1,2]}' })).toEqual({ a: [1, 2] });
    expect(readInput({ input: '"text"' })).toBe('text');
    expect(readInput({})).toBeUndefined();
    expect(() => readInput({ input: '{a' })).toThrow(/--input is not valid JSON/);
    expect(() => readInput({ inputFile: '/nonexistent/input.json' })).toThrow(/cannot read --input-file/);
  });
});
