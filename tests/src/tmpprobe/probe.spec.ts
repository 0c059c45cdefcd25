import { TestHarness } from '../index';
import { SilentWorker } from '../harness/silent-worker';
test('probe', async () => {
  const h = await TestHarness.start({ leaseDurationSecs: 1, heartbeatIntervalSecs: 0.25, workerStaleThresholdSecs: 60 });
  const queue = h.unique();
  const parker = await SilentWorker.register(h, { queue, workflowTypes: ['nap'] });
  const client = h.client();
  await Promise.all(Array.from({ length: 60 }, (_, i) => client.start('nap', i, { queue })));
  const held = new Set<string>();
  const beating = setInterval(() => void parker.heartbeat([...held]).catch(() => undefined), 200);
  const bodies: string[] = [];
  await Promise.all(Array.from({ length: 60 }, async () => {
    const task = await parker.claim();
    held.add(task.runId);
    const r = await parker.sleep(task, 'nap', 0, 1_500);
    if (r.status !== 200) bodies.push(JSON.stringify(r.body));
    held.delete(task.runId);
  }));
  clearInterval(beating);
  console.log('BAD', bodies.length, bodies.slice(0, 3));
  await h.stop();
}, 120000);
