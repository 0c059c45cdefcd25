import type { Command } from 'commander';
import type { ApiKey, ApiKeyRole, WorkerInfo } from '@baton/sdk';
import { ago, duration, fields, when } from '../format';
import type { Session } from '../session';
import type { Act } from './act';
import { list } from './options';

function workerLine(w: WorkerInfo): string {
  return `worker ${w.id} on queue ${w.queue}: ${w.status} (${w.activeCount} of ${w.maxConcurrent} slots busy)`;
}

async function listWorkers(session: Session, _args: string[], command: Command): Promise<void> {
  const { queue } = command.opts<{ queue?: string }>();
  const workers = await (await session.connect()).workers(queue !== undefined ? { queue } : {});
  session.out.result(
    () => ({ workers }),
    () => {
      const now = Date.now();
      session.out.table(
        ['WORKER ID', 'QUEUE', 'STATUS', 'SLOTS', 'HOST', 'PID', 'TYPES', 'HEARTBEAT'],
        workers.map((w) => [
          w.id,
          w.queue,
          w.status,
          `${w.activeCount}/${w.maxConcurrent}`,
          w.hostname,
          w.pid,
          w.workflowTypes.join(','),
          ago(w.lastHeartbeatAt, now),
        ]),
        'no workers',
      );
    },
  );
}

async function drainWorker(session: Session, [workerId]: string[]): Promise<void> {
  const worker = await (await session.connect()).admin.drainWorker(workerId!);
  session.out.result(
    () => worker,
    () => session.out.line(workerLine(worker)),
  );
}

async function listQueues(session: Session): Promise<void> {
  const queues = await (await session.connect()).admin.queues();
  session.out.result(
    () => ({ queues }),
    () =>
      session.out.table(
        ['QUEUE', 'PENDING', 'RUNNING', 'SLEEPING', 'OLDEST WAITING'],
        queues.map((q) => [
          q.queue,
          q.pending,
          q.running,
          q.sleeping,
          q.oldestClaimableAgeMs === null ? '-' : duration(q.oldestClaimableAgeMs),
        ]),
        'no queues',
      ),
  );
}

function keyRow(k: ApiKey, now: number) {
  return [
    k.id,
    k.name,
    k.prefix,
    k.namespaces.join(','),
    k.roles.join(','),
    ago(k.createdAt, now),
    ago(k.revokedAt, now),
  ];
}

async function createKey(session: Session, [name]: string[], command: Command): Promise<void> {
  const flags = command.opts<{ roles: string[]; namespaces?: string[] }>();
  const created = await (
    await session.connect()
  ).admin.createApiKey({
    name: name!,
    // The server checks roles and namespaces (one place for HTTP and gRPC): a wrong one is its INVALID_ARGUMENT.
    roles: flags.roles as ApiKeyRole[],
    namespaces: flags.namespaces ?? [session.options.namespace],
  });
  session.out.result(
    () => created,
    () => {
      session.out.line(
        fields([
          ['Key', created.key.id],
          ['Name', created.key.name],
          ['Namespaces', created.key.namespaces.join(', ')],
          ['Roles', created.key.roles.join(', ')],
          ['Secret', created.secret],
        ]),
      );
      session.out.line('The secret is shown only now: store it (use it as --api-key or BATON_API_KEY).');
    },
  );
}

async function listKeys(session: Session, _args: string[], command: Command): Promise<void> {
  const { all } = command.opts<{ all?: boolean }>();
  const keys = await (await session.connect()).admin.apiKeys({ includeRevoked: all === true });
  session.out.result(
    () => ({ keys }),
    () => {
      const now = Date.now();
      session.out.table(
        ['KEY ID', 'NAME', 'PREFIX', 'NAMESPACES', 'ROLES', 'CREATED', 'REVOKED'],
        keys.map((k) => keyRow(k, now)),
        'no keys',
      );
    },
  );
}

async function revokeKey(session: Session, [keyId]: string[]): Promise<void> {
  const key = await (await session.connect()).admin.revokeApiKey(keyId!);
  session.out.result(
    () => key,
    () => session.out.line(`revoked key ${key.id} (${key.name}) ${when(key.revokedAt)}`),
  );
}

/** `baton worker ...`, `baton queue ...` and `baton key ...`: operating a deployment (an admin key). */
export function registerAdmin(program: Command, act: Act): void {
  const worker = program.command('worker').description("the namespace's workers (an admin key)");
  worker
    .command('list')
    .alias('ls')
    .description('list workers, with their slots and last heartbeat')
    .option('-q, --queue <queue>', 'only those polling this queue')
    .action(act(listWorkers));
  worker
    .command('drain')
    .argument('<workerId>')
    .description('let a worker finish what it holds and give it nothing more')
    .action(act(drainWorker));

  const queue = program.command('queue').description("the namespace's task queues (an admin key)");
  queue.command('list').alias('ls').description('list queues with their backlog').action(act(listQueues));

  const key = program.command('key').description('API keys (an admin key)');
  key
    .command('create')
    .argument('<name>', 'a label for the key')
    .description('create an API key and print its secret (shown once)')
    .requiredOption('--roles <roles>', 'comma-separated: client, worker, admin', list)
    .option('--namespaces <namespaces>', "comma-separated namespaces, '*' for all (default: --namespace)", list)
    .action(act(createKey));
  key
    .command('list')
    .alias('ls')
    .description('list API keys (never their secrets)')
    .option('-a, --all', 'revoked keys too')
    .action(act(listKeys));
  key.command('revoke').argument('<keyId>').description('revoke a key on every server at once').action(act(revokeKey));
}
