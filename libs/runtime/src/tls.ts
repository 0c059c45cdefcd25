import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { ServerCredentials } from '@grpc/grpc-js';
import type { NestApplicationOptions } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { readConfigFile } from '@baton/messaging';

/** The API's TLS, ready for both of its servers. */
export interface ServerTls {
  /** For Nest's gRPC transport (its `credentials` option). */
  grpc: ServerCredentials;
  /** For `NestFactory.create`. */
  https: NonNullable<NestApplicationOptions['httpsOptions']>;
  /** Clients must present a certificate signed by BATON_TLS_CLIENT_CA. */
  mutual: boolean;
}

/**
 * Reads BATON_TLS_CERT / BATON_TLS_KEY (and BATON_TLS_CLIENT_CA) once, at
 * start: undefined when TLS is off. A missing file, or a certificate that does
 * not go with its key, fails the boot with the variable named rather than
 * every handshake later.
 */
export function loadServerTls(
  config: Pick<BatonConfig, 'tlsCertFile' | 'tlsKeyFile' | 'tlsClientCaFile'>,
): ServerTls | undefined {
  if (config.tlsCertFile === undefined || config.tlsKeyFile === undefined) return undefined;
  const cert = readConfigFile('BATON_TLS_CERT', config.tlsCertFile);
  const key = readConfigFile('BATON_TLS_KEY', config.tlsKeyFile);
  const ca =
    config.tlsClientCaFile === undefined ? undefined : readConfigFile('BATON_TLS_CLIENT_CA', config.tlsClientCaFile);
  check('BATON_TLS_CERT / BATON_TLS_KEY', () => createSecureContext({ cert, key }));
  // A bundle without one certificate in it would pass createSecureContext and then refuse every client.
  if (ca) check('BATON_TLS_CLIENT_CA', () => new X509Certificate(ca));
  const mutual = ca !== undefined;
  return {
    grpc: ServerCredentials.createSsl(ca ?? null, [{ cert_chain: cert, private_key: key }], mutual),
    // Without a client CA the server asks for no certificate (rejectUnauthorized only applies when it does).
    https: mutual ? { cert, key, ca, requestCert: true, rejectUnauthorized: true } : { cert, key },
    mutual,
  };
}

function check(variables: string, parse: () => unknown): void {
  try {
    parse();
  } catch (err) {
    throw new Error(`${variables}: not usable PEM (${(err as Error).message})`, { cause: err });
  }
}
