import { randomBytes } from 'node:crypto';
import type { WorkflowContext } from '@baton/sdk';
import { TestHarness } from '../index';

/** A step retry policy that parks the run only briefly, so the replay follows at once. */
const QUICK_RETRY = { retry: { maxAttempts: 3, initialIntervalMs: 100 } };

/**
 * Makes every run replay once after its first step: the step's output then
 * comes back from storage (the task history) instead of from memory.
 */
function replayOnce() {
  const replayed = new Set<string>();
  return (ctx: WorkflowContext) =>
    ctx.step(
      'force-replay',
      () => {
        if (replayed.has(ctx.runId)) return;
        replayed.add(ctx.runId);
        throw new Error('transient: replay from history');
      },
      QUICK_RETRY,
    );
}

describe('8. Payload handling', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  const payloadRow = async (runId: string) =>
    (await h.query(`SELECT * FROM workflow_payloads WHERE run_id = $1`, [runId]))[0]!;

  const stepRow = async (runId: string, stepId: string) =>
    (await h.query(`SELECT * FROM step_runs WHERE run_id = $1 AND step_id = $2`, [runId, stepId]))[0]!;

  describe('8.2 serialization', () => {
    test('json_input_deserialized_correctly', async () => {
      const queue = h.unique();
      const received: unknown[] = [];
      const worker = h.worker({ queue });
      worker.register('echo', async (_ctx, input: unknown) => {
        received.push(input);
        return { input, kind: Array.isArray(input) ? 'array' : input === null ? 'null' : typeof input };
      });
      await worker.start();

      const inputs: Array<[unknown, string]> = [
        [
          {
            str: 'text',
            int: 42,
            float: -0.125,
            exp: 6.02e23,
            maxSafe: Number.MAX_SAFE_INTEGER,
            minSafe: Number.MIN_SAFE_INTEGER,
            yes: true,
            no: false,
            nothing: null,
            nested: { deeper: { deepest: [1, [2, [3, { four: 4 }]]] } },
            emptyObject: {},
            emptyArray: [],
            escapes: 'quote " backslash \\ slash / newline \n tab \t nul \u0000',
          },
          'object',
        ],
        [[1, 'two', { three: 3 }, [4], null, false], 'array'],
        ['just a string', 'string'],
        [3.14159, 'number'],
        [0, 'number'],
        [false, 'boolean'],
      ];
      const client = h.client();
      for (const [input, kind] of inputs) {
        const run = await client.start('echo', input, { queue });
        await expect(client.result(run.id)).resolves.toEqual({ input, kind });
        // Stored as JSON text, exactly as JSON.stringify wrote it.
        const row = await payloadRow(run.id);
        expect(row.input_encoding).toBe('json');
        expect(row.input.toString('utf8')).toBe(JSON.stringify(input));
      }
      expect(received).toEqual(inputs.map(([input]) => input));

      // What JSON cannot carry is converted as JSON.stringify does, not rejected or mangled.
      const when = new Date('2026-01-02T03:04:05.678Z');
      const lossy = await client.start('echo', { when, skip: undefined, fn: () => 1, nan: NaN }, { queue });
      await expect(client.result(lossy.id)).resolves.toEqual({
        input: { when: '2026-01-02T03:04:05.678Z', nan: null },
        kind: 'object',
      });

      // The same JSON given over HTTP reaches the worker as the same value.
      const [[objectInput]] = inputs;
      const started = await h
        .http()
        .post('/v1/namespaces/default/workflows')
        .send({ workflowType: 'echo', queue, input: objectInput })
        .expect(201);
      await expect(client.result(started.body.run.id)).resolves.toEqual({ input: objectInput, kind: 'object' });
    });

    test('binary_payload_preserved', async () => {
      const queue = h.unique();
      // Every byte value, then random bytes (not valid UTF-8) - and the interesting edges.
      const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
      const input = Buffer.concat([allBytes, randomBytes(4096), Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28])]);
      // A view into a larger buffer (as small pooled Buffers are): only its own bytes may travel.
      const pooledStepOutput = Buffer.from([0x00, 0x11, 0xde, 0xad, 0xbe, 0xef, 0x22]).subarray(2, 6);

      const received: unknown[] = [];
      const stepOutputs: unknown[] = [];
      const replay = replayOnce();
      const worker = h.worker({ queue });
      worker.register('bytes', async (ctx, data: Buffer) => {
        received.push(data);
        const reversed = await ctx.step('reverse', () => Buffer.from(data).reverse());
        const magic = await ctx.step('magic', () => pooledStepOutput);
        const view = await ctx.step('view', () => new Uint8Array(data.buffer, data.byteOffset + 10, 5));
        stepOutputs.push({ reversed, magic, view });
        await replay(ctx);
        return Buffer.concat([reversed, magic]);
      });
      await worker.start();

      const client = h.client();
      const run = await client.start('bytes', new Uint8Array(input), { queue });
      const output = await client.result<Buffer>(run.id);

      const reversed = Buffer.from(input).reverse();
      const magic = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
      const view = input.subarray(10, 15);
      // Input arrived byte-exact, as bytes (not as JSON of an object with numeric keys).
      expect(received).toHaveLength(2);
      for (const data of received) {
        expect(Buffer.isBuffer(data)).toBe(true);
        expect((data as Buffer).equals(input)).toBe(true);
      }
      // Step outputs are byte-exact both when first produced and when replayed from history.
      expect(stepOutputs).toHaveLength(2);
      for (const s of stepOutputs as Array<Record<string, Buffer>>) {
        expect(Buffer.isBuffer(s.reversed) && s.reversed.equals(reversed)).toBe(true);
        expect(Buffer.isBuffer(s.magic) && s.magic.equals(magic)).toBe(true);
        expect(Buffer.isBuffer(s.view) && s.view.equals(view)).toBe(true);
      }
      // Workflow output too.
      expect(Buffer.isBuffer(output)).toBe(true);
      expect(output.equals(Buffer.concat([reversed, magic]))).toBe(true);

      // Stored as binary, untouched.
      const row = await payloadRow(run.id);
      expect(row.input_encoding).toBe('binary');
      expect(row.input.equals(input)).toBe(true);
      expect(row.output_encoding).toBe('binary');
      expect(row.output.equals(output)).toBe(true);
      const magicRow = await stepRow(run.id, 'magic');
      expect(magicRow.output_encoding).toBe('binary');
      expect(magicRow.output.equals(magic)).toBe(true);
      expect((await stepRow(run.id, 'view')).output.equals(view)).toBe(true);

      // Read back through both APIs: the SDK gives bytes; HTTP gives base64 of the same bytes.
      const stored = await client.get(run.id);
      expect((stored.input as Buffer).equals(input)).toBe(true);
      expect((stored.output as Buffer).equals(output)).toBe(true);
      const http = await h.http().get(`/v1/namespaces/default/workflows/${run.id}`).expect(200);
      expect(Buffer.from(http.body.inputBase64, 'base64').equals(input)).toBe(true);
      expect(Buffer.from(http.body.outputBase64, 'base64').equals(output)).toBe(true);

      // Binary input started over HTTP (base64) reaches the worker as the same bytes.
      const viaHttp = await h
        .http()
        .post('/v1/namespaces/default/workflows')
        .send({ workflowType: 'bytes', queue, inputBase64: input.toString('base64') })
        .expect(201);
      await client.result(viaHttp.body.run.id);
      expect((received[received.length - 1] as Buffer).equals(input)).toBe(true);
    });

    test('empty_payload_handled', async () => {
      const queue = h.unique();
      const received: Array<{ input: unknown; step: unknown }> = [];
      const replay = replayOnce();
      const worker = h.worker({ queue });
      worker.register('empty', async (ctx, input: unknown) => {
        // The step hands back the same empty value, so its output is empty too.
        const step = await ctx.step('same', () => input);
        received.push({ input, step });
        await replay(ctx);
        return input;
      });
      await worker.start();

      const client = h.client();
      const cases: Array<{ name: string; input: unknown; encoding: string | null; bytes: number | null }> = [
        { name: 'undefined', input: undefined, encoding: null, bytes: null },
        { name: 'null', input: null, encoding: 'json', bytes: 4 },
        { name: 'empty string', input: '', encoding: 'json', bytes: 2 },
        { name: 'empty bytes', input: new Uint8Array(0), encoding: 'binary', bytes: 0 },
      ];
      for (const c of cases) {
        received.length = 0;
        const run = await client.start('empty', c.input, { queue });
        const output = await client.result(run.id);
        const expected = c.input instanceof Uint8Array ? Buffer.alloc(0) : c.input;

        expect({ case: c.name, output }).toEqual({ case: c.name, output: expected });
        // After the replay: the handler and the step saw the same empty value both times.
        expect({ case: c.name, received }).toEqual({
          case: c.name,
          received: [
            { input: expected, step: expected },
            { input: expected, step: expected },
          ],
        });
        expect({ case: c.name, input: (await client.get(run.id)).input }).toEqual({ case: c.name, input: expected });

        const row = await payloadRow(run.id);
        expect({ case: c.name, encoding: row.input_encoding, bytes: row.input?.length ?? null }).toEqual({
          case: c.name,
          encoding: c.encoding,
          bytes: c.bytes,
        });
        expect({ case: c.name, encoding: row.output_encoding }).toEqual({ case: c.name, encoding: c.encoding });
        expect(await stepRow(run.id, 'same')).toMatchObject({ status: 'COMPLETED', output_encoding: c.encoding });
      }

      // Over HTTP: no input at all is "no payload"; an explicit null is the JSON value null.
      const overHttp: Array<[object, unknown]> = [
        [{}, undefined],
        [{ input: null }, null],
        [{ input: '' }, ''],
        [{ inputBase64: '' }, Buffer.alloc(0)],
      ];
      for (const [body, expected] of overHttp) {
        const res = await h
          .http()
          .post('/v1/namespaces/default/workflows')
          .send({ workflowType: 'empty', queue, ...body })
          .expect(201);
        await expect(client.result(res.body.run.id)).resolves.toEqual(expected);
      }
    });

    test('unicode_in_payload_preserved', async () => {
      const queue = h.unique();
      const text = {
        emoji: '👍🏽 👨‍👩‍👧‍👦 🇨🇭 🏳️‍🌈 😀',
        cjk: '漢字かなカナ한국어 中文𠜎𠜱',
        rtl: 'مرحبا بالعالم שלום עולם',
        mixedDirection: 'abc \u202Eفارسی\u202C def',
        // "é" composed and decomposed: both must survive as they are, never normalised.
        composed: 'caf\u00e9',
        decomposed: 'cafe\u0301',
        stacked: 'Z\u0351\u0358\u0300a\u0317\u035Cl\u0306g\u0361o',
        // Single BMP code points that trip up naive handling.
        bmp: '\u00A0\u2028\u2029\uFEFF\uFFFD\uFFFF\u200B\u200D',
        // Lone surrogates are not valid UTF-8; JSON carries them as escapes.
        loneSurrogates: 'a\uD800b\uDFFFc',
        [`clé 🔑 ключ`]: 'unicode keys too',
      };
      const seen: unknown[] = [];
      const replay = replayOnce();
      const worker = h.worker({ queue });
      worker.register('unicode', async (ctx, input: typeof text) => {
        seen.push(input);
        const upper = await ctx.step('shout', () => ({ ...input, shout: `${input.cjk}!${input.emoji}` }));
        seen.push(upper);
        await replay(ctx);
        return upper;
      });
      await worker.start();

      const client = h.client();
      const run = await client.start('unicode', text, { queue });
      const expectedOutput = { ...text, shout: `${text.cjk}!${text.emoji}` };
      const output = await client.result<typeof expectedOutput>(run.id);

      expect(output).toEqual(expectedOutput);
      // Compare code units exactly: equality must not hold only "after normalisation".
      for (const [key, value] of Object.entries(text)) {
        expect([key, [...(output as Record<string, string>)[key]!].map((c) => c.codePointAt(0))]).toEqual([
          key,
          [...value].map((c) => c.codePointAt(0)),
        ]);
      }
      expect(output.decomposed).not.toBe(output.composed);
      // Input as the handler saw it, and the step output: fresh, then replayed from history.
      expect(seen).toEqual([text, expectedOutput, text, expectedOutput]);

      // Storage holds the UTF-8 the SDK produced, byte for byte.
      const row = await payloadRow(run.id);
      expect(row.input.equals(Buffer.from(JSON.stringify(text), 'utf8'))).toBe(true);
      expect(JSON.parse((await stepRow(run.id, 'shout')).output.toString('utf8'))).toEqual(expectedOutput);

      // Both APIs read it back intact, and HTTP accepts it as input.
      expect((await client.get(run.id)).input).toEqual(text);
      const http = await h.http().get(`/v1/namespaces/default/workflows/${run.id}`).expect(200);
      expect(http.body.input).toEqual(text);
      expect(http.body.output).toEqual(expectedOutput);
      const viaHttp = await h
        .http()
        .post('/v1/namespaces/default/workflows')
        .send({ workflowType: 'unicode', queue, input: text })
        .expect(201);
      await expect(client.result(viaHttp.body.run.id)).resolves.toEqual(expectedOutput);
    });
  });
});
