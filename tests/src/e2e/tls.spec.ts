import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as GrpcClient, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import type { ChannelCredentials, ServiceError } from '@grpc/grpc-js';
import type { BatonConfig } from '@baton/contracts';
import { BatonError, Client, Transport, Worker } from '@baton/sdk';
import type { ConnectionOptions } from '@baton/sdk';
import { TestHarness, waitFor } from '../index';
import { freePort } from '../harness/ports';
import { portOpen } from '../harness/services';

/** A certificate and its key: the PEM, and the files (for the server's configuration). */
interface Identity {
  cert: Buffer;
  key: Buffer;
  certFile: string;
  keyFile: string;
}

/**
 * What these tests need, made with the openssl CLI: a CA; a server certificate
 * for 127.0.0.1 and localhost and a client certificate, both signed by it; and
 * an unrelated CA with a client certificate of its own.
 */
interface Pki {
  dir: string;
  ca: Identity;
  otherCa: Identity;
  server: Identity;
  client: Identity;
  stranger: Identity;
}

/** A NATS user nkey, as @nats-io/nkeys makes it. */
interface NkeyPair {
  getPublicKey(): string;
  getSeed(): Uint8Array;
}

// nkeys is a dependency of @baton/messaging's NATS client, not of the tests: reach it through that package.
const messagingRequire = createRequire(join(__dirname, '..', '..', '..', 'libs', 'messaging', 'package.json'));
const { nkeys } = messagingRequire('@nats-io/transport-node') as { nkeys: { createUser(): NkeyPair } };

const OPENSSL = '/usr/bin/openssl';
const NATS_SERVER = '/usr/sbin/nats-server';
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'baton-tls-'));
  const openssl = (...args: string[]) => execFileSync(OPENSSL, args, { cwd: dir, stdio: 'pipe' });
  const identity = (name: string): Identity => {
    const [certFile, keyFile] = [join(dir, `${name}.crt`), join(dir, `${name}.key`)];
    return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile };
  };
  const ca = (name: string) => {
    openssl(
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
    );
    return identity(name);
  };
  const signed = (name: string, issuer: string, extensions: string) => {
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl('req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    openssl(
      ...['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial'],
      ...['-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`],
    );
    return identity(name);
  };
  return {
    dir,
    ca: ca('ca'),
    otherCa: ca('other-ca'),
    server: signed('server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'),
    client: signed('client', 'ca', 'extendedKeyUsage=clientAuth\n'),
    stranger: signed('stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n'),
  };
}

/** The status of a GET over HTTPS; rejects when the connection is refused (the TLS error's code tells why). */
function httpsStatus(url: string, tls: { ca?: Buffer; cert?: Buffer; key?: Buffer }): Promise<number> {
  return new Promise((resolve, reject) => {
    // No agent: every request makes its own connection, so each test sees its own handshake.
    const req = httpsRequest(url, { ...tls, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const LIST_RUNS = '/baton.v1.WorkflowService/List';

/**
 * A List call straight through grpc-js, without the SDK's wait-for-ready:
 * it fails as soon as the channel cannot connect, with grpc-js's own status
 * and its last connection error in the details.
 */
function failFast(address: string, creds: ChannelCredentials): Promise<ServiceError> {
  const client = new GrpcClient(address, creds);
  const empty = (value: Buffer) => value;
  return new Promise<ServiceError>((resolve, reject) => {
    client.makeUnaryRequest(
      LIST_RUNS,
      empty,
      empty,
      Buffer.alloc(0),
      { deadline: Date.now() + 10_000 },
      (err: ServiceError | null) => (err ? resolve(err) : reject(new Error(`List over ${address} succeeded`))),
    );
  }).finally(() => client.close());
}

/**
 * The SDK waits for a channel that is not ready (to ride out a restart), so a
 * channel that can never be ready fails each call at its deadline, without
 * an answer from the server: the call never reaches it.
 */
async function sdkRefused(address: string, connection: ConnectionOptions): Promise<BatonError> {
  const transport = new Transport(address, connection);
  try {
    const err = await transport.call('workflow', 'List', { namespace: 'default' }, { timeoutMs: 1_500 }).then(
      () => new Error('List succeeded'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BatonError);
    expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain((err as BatonError).code);
    return err as BatonError;
  } finally {
    transport.close();
  }
}

/** A run started and read back, and one run through a worker, over `connection`. */
async function runOver(h: TestHarness, connection: ConnectionOptions): Promise<void> {
  const queue = h.unique();
  const worker = new Worker({ address: h.grpcAddress, queue, shutdownGraceMs: 2_000, ...connection });
  worker.register('echo', async (_ctx, input: unknown) => input);
  const client = new Client({ address: h.grpcAddress, ...connection });
  try {
    await worker.start();
    const run = await client.start('echo', { over: 'tls' }, { queue });
    expect((await client.get(run.id)).id).toBe(run.id);
    expect(await client.result(run.id, { timeout: '20s' })).toEqual({ over: 'tls' });
  } finally {
    client.close();
    await worker.stop();
  }
}

/** A certificate or handshake failure, as Node's TLS reports it (code) or grpc-js passes it on (details). */
const CERTIFICATE_ERROR = /certificate|verify|issuer|self.signed|alert|handshake|CERT/i;

let pki: Pki;

beforeAll(() => {
  pki = makePki();
});

afterAll(() => {
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

describe('TLS on the API', () => {
  let h: TestHarness;
  const url = () => `https://127.0.0.1:${h.config.httpPort}/v1/namespaces/default/workflows`;

  beforeAll(async () => {
    h = await TestHarness.start({
      overrides: { tlsCertFile: pki.server.certFile, tlsKeyFile: pki.server.keyFile },
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('tls_grpc_and_https_connect_with_the_right_ca', async () => {
    await runOver(h, { tls: { ca: pki.ca.cert } });
    // The name checked is the one given, not the address's host.
    await runOver(h, { tls: { ca: pki.ca.cert.toString(), serverName: 'localhost' } });
    expect(await httpsStatus(url(), { ca: pki.ca.cert })).toBe(200);
  });

  test('tls_wrong_ca_refused', async () => {
    const refused = await failFast(h.grpcAddress, credentials.createSsl(pki.otherCa.cert));
    expect(refused.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(refused.details).toMatch(CERTIFICATE_ERROR);
    await Promise.all([
      sdkRefused(h.grpcAddress, { tls: { ca: pki.otherCa.cert } }),
      // The right CA, but a name the certificate does not hold.
      sdkRefused(h.grpcAddress, { tls: { ca: pki.ca.cert, serverName: 'elsewhere.example' } }),
      // Plaintext gRPC to the TLS port.
      sdkRefused(h.grpcAddress, {}),
    ]);
    expect((await failFast(h.grpcAddress, credentials.createInsecure())).code).toBe(GrpcStatus.UNAVAILABLE);

    const https = await httpsStatus(url(), { ca: pki.otherCa.cert }).then(
      (status) => ({ status }),
      (err: NodeJS.ErrnoException) => ({ code: err.code }),
    );
    expect(https).toEqual({ code: expect.stringMatching(CERTIFICATE_ERROR) });
    // Plain HTTP to the HTTPS port: the TLS server hangs up on it.
    await expect(fetch(`http://127.0.0.1:${h.config.httpPort}/v1/namespaces/default/workflows`)).rejects.toThrow();
  });
});

describe('mTLS on the API', () => {
  let h: TestHarness;
  const url = () => `https://127.0.0.1:${h.config.httpPort}/v1/namespaces/default/workflows`;

  beforeAll(async () => {
    h = await TestHarness.start({
      overrides: {
        tlsCertFile: pki.server.certFile,
        tlsKeyFile: pki.server.keyFile,
        tlsClientCaFile: pki.ca.certFile,
      },
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('mtls_requires_a_client_certificate', async () => {
    const ca = pki.ca.cert;
    const stranger = { cert: pki.stranger.cert, key: pki.stranger.key };
    for (const creds of [credentials.createSsl(ca), credentials.createSsl(ca, stranger.key, stranger.cert)]) {
      const refused = await failFast(h.grpcAddress, creds);
      expect(refused.code).toBe(GrpcStatus.UNAVAILABLE);
    }
    await Promise.all([
      sdkRefused(h.grpcAddress, { tls: { ca } }),
      sdkRefused(h.grpcAddress, { tls: { ca, ...stranger } }),
    ]);
    for (const tls of [{ ca }, { ca, ...stranger }]) {
      await expect(httpsStatus(url(), tls)).rejects.toThrow();
    }

    const client = { cert: pki.client.cert, key: pki.client.key };
    await runOver(h, { tls: { ca, ...client } });
    expect(await httpsStatus(url(), { ca, ...client })).toBe(200);
  });
});

describe('credentials and TLS on the bus', () => {
  const servers: ChildProcess[] = [];

  /** A nats-server of this test's own on a free port, with `args` (credentials, TLS). */
  async function natsServer(args: string[]): Promise<string> {
    const port = await freePort();
    const store = join(pki.dir, `js-${port}`);
    mkdirSync(store);
    const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store, ...args], {
      stdio: 'ignore',
    });
    servers.push(child);
    await waitFor(() => portOpen('127.0.0.1', port), `nats-server on port ${port}`);
    return `nats://127.0.0.1:${port}`;
  }

  /** A deployment on this bus runs a workflow end to end: doorbells, polls and events all cross it. */
  async function runsOnTheBus(overrides: Partial<BatonConfig>): Promise<void> {
    const h = await TestHarness.start({ overrides });
    try {
      const queue = h.unique();
      const worker = h.worker({ queue });
      worker.register('echo', async (_ctx, input: unknown) => input);
      await worker.start();
      const client = h.client();
      const run = await client.start('echo', { bus: 'secured' }, { queue });
      expect(await client.result(run.id, { timeout: '20s' })).toEqual({ bus: 'secured' });
    } finally {
      await h.stop();
    }
  }

  /** An app given these settings does not start, and says why. */
  async function refusedBy(overrides: Partial<BatonConfig>, why: RegExp): Promise<void> {
    await expect(TestHarness.start({ apps: ['frontend'], overrides })).rejects.toThrow(why);
  }

  afterAll(async () => {
    await Promise.all(
      servers.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill();
          }),
      ),
    );
  });

  test('nats_credentials_required_by_a_secured_bus', async () => {
    const natsUrl = await natsServer(['--user', 'u', '--pass', 'p']);
    await runsOnTheBus({ natsUrl, natsUser: 'u', natsPassword: 'p' });
    await refusedBy({ natsUrl, natsUser: 'u', natsPassword: 'wrong' }, /authorization/i);
    await refusedBy({ natsUrl }, /authorization/i);
  });

  test('nats_nkey_user_authenticates', async () => {
    const [user, stranger] = [nkeys.createUser(), nkeys.createUser()];
    const seedFile = (name: string, pair: NkeyPair) => {
      const file = join(pki.dir, `${name}.nk`);
      writeFileSync(file, `${Buffer.from(pair.getSeed()).toString('utf8')}\n`, { mode: 0o600 });
      return file;
    };
    // Users listed by public key alone (no JWT); the listen port and JetStream come from natsServer's flags.
    const config = join(pki.dir, 'nkey-users.conf');
    writeFileSync(config, `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
    const natsUrl = await natsServer(['-c', config]);
    await runsOnTheBus({ natsUrl, natsNkeySeedFile: seedFile('user', user) });
    await refusedBy({ natsUrl, natsNkeySeedFile: seedFile('stranger', stranger) }, /authorization/i);
  });

  test('nats_tls_verified_with_the_configured_ca', async () => {
    const natsUrl = await natsServer(['--tls', '--tlscert', pki.server.certFile, '--tlskey', pki.server.keyFile]);
    await runsOnTheBus({ natsUrl, natsTlsCaFile: pki.ca.certFile });
    await refusedBy({ natsUrl, natsTlsCaFile: pki.otherCa.certFile }, CERTIFICATE_ERROR);
    await refusedBy({ natsUrl, natsTlsCaFile: join(pki.dir, 'missing.crt') }, /NATS_TLS_CA: cannot read/);
  });
});
