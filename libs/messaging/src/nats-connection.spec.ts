import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { nkeys } from '@nats-io/transport-node';
import { describeNatsSecurity, natsConnectionOptions } from './nats-connection';

describe('natsConnectionOptions', () => {
  let dir: string;
  const config = (overrides: Partial<BatonConfig>) => buildConfig({ natsUrl: 'nats://127.0.0.1:4222', ...overrides });

  const user = nkeys.createUser();
  const seedFile = (name: string) => join(dir, name);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'baton-nats-'));
    writeFileSync(join(dir, 'ca.pem'), 'CA PEM');
    // As `nk -gen user` writes it: the seed and a newline.
    writeFileSync(seedFile('user.nk'), `${new TextDecoder().decode(user.getSeed())}\n`);
    writeFileSync(seedFile('account.nk'), nkeys.createAccount().getSeed());
    writeFileSync(seedFile('garbage.nk'), 'SUNOTASEED\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('no settings, no credentials and no TLS', () => {
    expect(natsConnectionOptions(config({}))).toEqual({});
  });

  test('user and password, or a token', () => {
    expect(natsConnectionOptions(config({ natsUser: 'u', natsPassword: 'p' }))).toEqual({ user: 'u', pass: 'p' });
    expect(natsConnectionOptions(config({ natsToken: 't' }))).toEqual({ token: 't' });
  });

  test('an nkey seed signs the server nonce as its user', () => {
    const { authenticator, ...rest } = natsConnectionOptions(config({ natsNkeySeedFile: seedFile('user.nk') }));
    expect(rest).toEqual({});
    const nonce = 'nonce-from-the-server';
    const auth = authenticator!(nonce) as { nkey: string; sig: string };
    expect(auth.nkey).toBe(user.getPublicKey());
    const sig = nkeys.decode(auth.sig);
    expect(user.verify(new TextEncoder().encode(nonce), sig)).toBe(true);
  });

  test('an nkey seed file that is missing or holds no user seed fails at start, naming its variable', () => {
    const options = (name: string) => () => natsConnectionOptions(config({ natsNkeySeedFile: seedFile(name) }));
    expect(options('none.nk')).toThrow(/^NATS_NKEY_SEED: cannot read .*none\.nk \(ENOENT\)$/);
    expect(options('garbage.nk')).toThrow(/^NATS_NKEY_SEED: .*garbage\.nk holds no nkey seed/);
    expect(options('account.nk')).toThrow(/^NATS_NKEY_SEED: .*account\.nk holds an SA\.\.\. seed, not a user's/);
  });

  test('TLS files are read at once, and only the ones given', () => {
    expect(natsConnectionOptions(config({ natsTlsCaFile: join(dir, 'ca.pem') }))).toEqual({ tls: { ca: 'CA PEM' } });
  });

  test('a file that cannot be read is an error naming its variable', () => {
    expect(() => natsConnectionOptions(config({ natsCredsFile: join(dir, 'none.creds') }))).toThrow(
      /^NATS_CREDS: cannot read .*none\.creds \(ENOENT\)$/,
    );
    expect(() =>
      natsConnectionOptions(config({ natsTlsCertFile: join(dir, 'none.crt'), natsTlsKeyFile: join(dir, 'ca.pem') })),
    ).toThrow(/^NATS_TLS_CERT: cannot read/);
  });

  test('what the logs say names the kind of credential, never the secret', () => {
    expect(describeNatsSecurity(config({ natsUser: 'baton', natsPassword: 's3cret' }))).toBe('user baton');
    expect(describeNatsSecurity(config({ natsToken: 's3cret', natsTlsCaFile: 'ca.pem' }))).toBe('token, TLS');
    expect(describeNatsSecurity(config({ natsNkeySeedFile: seedFile('user.nk') }))).toBe(`nkey ${user.getPublicKey()}`);
    expect(describeNatsSecurity(config({ natsNkeySeedFile: seedFile('none.nk') }))).toBe('nkey');
    expect(describeNatsSecurity(config({}))).toBe('no credentials');
  });
});
