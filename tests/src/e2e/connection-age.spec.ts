import { createServer, Socket } from 'node:net';
import type { Server } from 'node:net';
import { Client as GrpcClient, connectivityState, credentials } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { bootstrapFrontend } from '@baton/frontend';
import type { RunningApp } from '@baton/runtime';
import { Client } from '@baton/sdk';
import { TestHarness, waitFor } from '../index';
import { freePort } from '../harness/ports';

/**
 * BATON_GRPC_MAX_CONNECTION_AGE: the frontend ends every gRPC connection
 * after this long (±10 % jitter) with a GOAWAY, so that a long-lived worker
 * or client reconnects, and through the Service possibly to another replica:
 * a replica added by a scale-up or a rollout gets its share of them. The age
 * is short here so that a test sees several.
 */
const AGE_MS = 1_000;
/** grpc-js draws each connection's age within ±10 % of the setting. */
const EARLIEST_CLOSE_MS = AGE_MS * 0.9;
/** Several ages: every connection of the test is replaced a few times. */
const SEVERAL_AGES_MS = 5 * AGE_MS;

const SERVER_INFO = '/baton.v1.AdminService/ServerInfo';
const bytes = (value: Buffer) => value;

/** One unary call straight through grpc-js (an empty request is a valid ServerInfoRequest). */
function serverInfo(client: GrpcClient): Promise<void> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(SERVER_INFO, bytes, bytes, Buffer.alloc(0), { deadline: Date.now() + 10_000 }, (err) =>
      err ? reject(err as ServiceError) : resolve(),
    );
  });
}

/** Resolves with the channel's next state once it leaves `from`; rejects after `timeoutMs`. */
function nextState(client: GrpcClient, from: connectivityState, timeoutMs: number): Promise<connectivityState> {
  const channel = client.getChannel();
  return new Promise((resolve, reject) => {
    channel.watchConnectivityState(from, Date.now() + timeoutMs, (err) =>
      err ? reject(err) : resolve(channel.getConnectivityState(false)),
    );
  });
}

/**
 * A TCP load balancer in front of frontend replicas, as a Service is: each
 * new connection goes to the current backend and stays with it for its life.
 * Counts connections per backend.
 */
class Balancer {
  readonly accepted = new Map<string, number>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private backend: string,
  ) {}

  static async start(backend: string): Promise<Balancer> {
    const port = await freePort();
    const server = createServer();
    const balancer = new Balancer(server, port, backend);
    server.on('connection', (client) => balancer.forward(client));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return balancer;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** New connections go to `backend` from now on; open ones stay where they are. */
  routeTo(backend: string): void {
    this.backend = backend;
  }

  close(): void {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
  }

  private forward(client: Socket): void {
    const backend = this.backend;
    this.accepted.set(backend, (this.accepted.get(backend) ?? 0) + 1);
    const separator = backend.lastIndexOf(':');
    const server = new Socket().connect(Number(backend.slice(separator + 1)), backend.slice(0, separator));
    for (const [from, to] of [
      [client, server],
      [server, client],
    ] as const) {
      this.sockets.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        to.destroy();
        this.sockets.delete(from);
      });
    }
  }
}

let h: TestHarness;

beforeAll(async () => {
  h = await TestHarness.start({ overrides: { grpcMaxConnectionAgeMs: AGE_MS } });
});

afterAll(async () => {
  await h?.stop();
});

describe('gRPC connection recycling (BATON_GRPC_MAX_CONNECTION_AGE)', () => {
  test('a raw grpc-js channel sees its connection closed after the max age, then reconnects', async () => {
    const proxy = await h.proxy();
    const client = new GrpcClient(proxy.address, credentials.createInsecure());
    try {
      await serverInfo(client);
      const readyAt = Date.now();
      expect(client.getChannel().getConnectivityState(false)).toBe(connectivityState.READY);
      expect(proxy.stats()).toMatchObject({ accepted: 1, open: 1 });

      // The GOAWAY: grpc-js drops the connection and the channel goes IDLE until the next call.
      const state = await nextState(client, connectivityState.READY, 20 * AGE_MS);
      expect(Date.now() - readyAt).toBeGreaterThanOrEqual(EARLIEST_CLOSE_MS - 50);
      expect(state).toBe(connectivityState.IDLE);
      // The server closed the TCP connection too (no call was in flight to wait for).
      await waitFor(() => proxy.stats().open === 0, 'the recycled connection to close');

      await serverInfo(client);
      expect(proxy.stats()).toMatchObject({ accepted: 2, open: 1, cut: 0 });
    } finally {
      client.close();
    }
  });

  test('a long-lived SDK client and worker keep working while their connections are recycled', async () => {
    const proxy = await h.proxy();
    const queue = h.unique();
    const worker = h.worker({ address: proxy.address, queue });
    worker.register('echo', async (ctx, input: { n: number }) => ctx.step('echo', async () => input));
    await worker.start();
    const client = new Client({ address: proxy.address });
    try {
      const until = Date.now() + SEVERAL_AGES_MS;
      let n = 0;
      // Bounded by time: runs one after another across several ages, each must succeed.
      while (Date.now() < until) {
        const run = await client.start('echo', { n }, { queue });
        expect(await client.result(run.id, { timeout: '20s' })).toEqual({ n });
        n++;
      }
      expect(n).toBeGreaterThan(1);
      // Worker and client each opened new connections as the old ones aged out; none was cut.
      const { accepted, cut } = proxy.stats();
      expect(accepted).toBeGreaterThanOrEqual(4);
      expect(cut).toBe(0);
    } finally {
      client.close();
      await worker.stop();
    }
  });

  test('a frontend replica added later gets the worker once its connection ages out', async () => {
    const first = h.grpcAddress;
    const balancer = await Balancer.start(first);
    let second: RunningApp | undefined;
    const queue = h.unique();
    const worker = h.worker({ address: balancer.address, queue });
    worker.register('echo', async (_ctx, input: unknown) => input);
    try {
      await worker.start();
      // A scale-up: the new replica is behind the same address; new connections now reach it.
      const grpcPort = await freePort();
      second = await bootstrapFrontend({ ...h.config, httpPort: await freePort(), grpcPort });
      const newReplica = `127.0.0.1:${grpcPort}`;
      balancer.routeTo(newReplica);

      // Without recycling the worker would stay on the first replica for as long as it runs.
      await waitFor(() => (balancer.accepted.get(newReplica) ?? 0) > 0, 'the worker to reconnect to the new replica', {
        timeoutMs: 10 * AGE_MS,
      });
      const client = h.client();
      const run = await client.start('echo', { via: 'new replica' }, { queue });
      expect(await client.result(run.id, { timeout: '20s' })).toEqual({ via: 'new replica' });
    } finally {
      await worker.stop();
      balancer.close();
      await second?.close();
    }
  });
});
