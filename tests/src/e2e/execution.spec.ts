import { TestHarness } from '../index';

describe('2. Workflow execution', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  describe('2.1 happy path', () => {
    test('simple_workflow_completes_successfully', async () => {
      const queue = h.unique();
      const worker = h.worker({ queue });
      worker.register('hello', async () => 'done');
      await worker.start();
      const client = h.client();
      const run = await client.start('hello', undefined, { queue });
      await expect(client.result(run.id)).resolves.toBe('done');
      const stored = await client.get(run.id);
      expect(stored.status).toBe('COMPLETED');
      expect(stored.finishedAt).toBeInstanceOf(Date);
    });
  });
});
