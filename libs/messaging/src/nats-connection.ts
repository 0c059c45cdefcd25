import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, nkeys } from '@nats-io/transport-node';
import type { Authenticator } from '@nats-io/transport-node';
import type { BatonConfig } from '@baton/contracts';

/** The configuration the bus reads: where NATS is, the deployment's prefix, and how to prove who we are. */
export type BusConfig = Pick<
  BatonConfig,
  | 'natsUrl'
  | 'subjectPrefix'
  | 'natsUser'
  | 'natsPassword'
  | 'natsToken'
  | 'natsCredsFile'
  | 'natsNkeySeedFile'
  | 'natsTlsCaFile'
  | 'natsTlsCertFile'
  | 'natsTlsKeyFile'
>;

/** Credentials and TLS for a NATS connection, in the shape nats.js's `connect` takes. */
export interface NatsSecurityOptions {
  user?: string;
  pass?: string;
  token?: string;
  authenticator?: Authenticator;
  /** PEM contents, read at start so that a missing file fails the boot, naming its variable. */
  tls?: { ca?: string; cert?: string; key?: string };
}

/**
 * Reads a file a setting names, once, at start. A missing or unreadable file
 * is an error naming the variable, not a failed handshake later.
 */
export function readConfigFile(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`${variable}: cannot read ${path} (${reason})`, { cause: err });
  }
}

/** A user's nkey: the seed nats.js signs the server's nonce with, and the public key the server lists. */
interface UserNkey {
  seed: Uint8Array;
  publicKey: string;
}

/**
 * The user nkey NATS_NKEY_SEED names, read and checked at start: a file that
 * holds no user seed fails the boot naming the variable, where the server
 * would only answer "Authorization Violation". Editors and `nk -gen user >
 * file` leave a trailing newline, which is not part of the seed.
 */
function readUserNkey(path: string): UserNkey {
  const seed = new TextEncoder().encode(readConfigFile('NATS_NKEY_SEED', path).toString('utf8').trim());
  let publicKey: string;
  try {
    publicKey = nkeys.fromSeed(seed).getPublicKey();
  } catch (err) {
    throw new Error(`NATS_NKEY_SEED: ${path} holds no nkey seed (${(err as Error).message})`, { cause: err });
  }
  if (!publicKey.startsWith('U')) {
    throw new Error(`NATS_NKEY_SEED: ${path} holds an S${publicKey[0]}... seed, not a user's (SU...)`);
  }
  return { seed, publicKey };
}

/** `{ [field]: contents }` when the setting is given, else nothing (nats.js copies undefined fields over its defaults). */
const pem = <K extends string>(field: K, variable: string, path: string | undefined) =>
  path === undefined ? {} : ({ [field]: readConfigFile(variable, path).toString('utf8') } as Record<K, string>);

/**
 * The one place the bus settings become connection options: user and
 * password, a token, a creds file or an nkey seed (config allows one), and
 * TLS when a CA or a client certificate is given. The secrets go to nats.js
 * and nowhere else.
 */
export function natsConnectionOptions(config: BusConfig): NatsSecurityOptions {
  const options: NatsSecurityOptions = {};
  if (config.natsUser !== undefined) {
    options.user = config.natsUser;
    options.pass = config.natsPassword;
  }
  if (config.natsToken !== undefined) options.token = config.natsToken;
  if (config.natsCredsFile !== undefined) {
    options.authenticator = credsAuthenticator(readConfigFile('NATS_CREDS', config.natsCredsFile));
  }
  if (config.natsNkeySeedFile !== undefined) {
    options.authenticator = nkeyAuthenticator(readUserNkey(config.natsNkeySeedFile).seed);
  }
  if (config.natsTlsCaFile !== undefined || config.natsTlsCertFile !== undefined) {
    options.tls = {
      ...pem('ca', 'NATS_TLS_CA', config.natsTlsCaFile),
      ...pem('cert', 'NATS_TLS_CERT', config.natsTlsCertFile),
      ...pem('key', 'NATS_TLS_KEY', config.natsTlsKeyFile),
    };
  }
  return options;
}

/** `nkey U...`: the public half only; just `nkey` when the seed cannot be read (logs never throw). */
function describeNkey(path: string): string {
  try {
    return `nkey ${readUserNkey(path).publicKey}`;
  } catch {
    return 'nkey';
  }
}

/** The kind of credential and who it names; config allows at most one. */
function describeAuth(config: BusConfig): string {
  if (config.natsUser !== undefined) return `user ${config.natsUser}`;
  if (config.natsToken !== undefined) return 'token';
  if (config.natsCredsFile !== undefined) return `creds ${config.natsCredsFile}`;
  if (config.natsNkeySeedFile !== undefined) return describeNkey(config.natsNkeySeedFile);
  return 'no credentials';
}

/** How the bus authenticates, for logs: the kind and the user, never a secret. */
export function describeNatsSecurity(config: BusConfig): string {
  const auth = describeAuth(config);
  const tls = config.natsTlsCaFile !== undefined || config.natsTlsCertFile !== undefined;
  return tls ? `${auth}, TLS` : auth;
}
