import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServerTls } from './tls';

describe('loadServerTls', () => {
  let dir: string;
  const file = (name: string) => join(dir, name);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'baton-tls-'));
    for (const name of ['a', 'b']) {
      execFileSync(
        '/usr/bin/openssl',
        [
          ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
          ...['-keyout', file(`${name}.key`), '-out', file(`${name}.crt`), '-days', '1', '-subj', `/CN=${name}`],
        ],
        { stdio: 'pipe' },
      );
    }
    writeFileSync(file('garbage.pem'), 'not a certificate');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('off without a certificate', () => {
    expect(loadServerTls({})).toBeUndefined();
  });

  test('a certificate and its key: TLS; with a client CA: mTLS', () => {
    const tls = loadServerTls({ tlsCertFile: file('a.crt'), tlsKeyFile: file('a.key') })!;
    expect(tls.mutual).toBe(false);
    expect(tls.https).not.toHaveProperty('requestCert');
    const mutual = loadServerTls({
      tlsCertFile: file('a.crt'),
      tlsKeyFile: file('a.key'),
      tlsClientCaFile: file('b.crt'),
    })!;
    expect(mutual.mutual).toBe(true);
    expect(mutual.https).toMatchObject({ requestCert: true, rejectUnauthorized: true });
  });

  test('a file that is missing, not PEM, or a key of another certificate fails naming the variable', () => {
    expect(() => loadServerTls({ tlsCertFile: file('none.crt'), tlsKeyFile: file('a.key') })).toThrow(
      /^BATON_TLS_CERT: cannot read .*none\.crt \(ENOENT\)$/,
    );
    expect(() =>
      loadServerTls({ tlsCertFile: file('a.crt'), tlsKeyFile: file('a.key'), tlsClientCaFile: file('none.crt') }),
    ).toThrow(/^BATON_TLS_CLIENT_CA: cannot read/);
    expect(() => loadServerTls({ tlsCertFile: file('garbage.pem'), tlsKeyFile: file('a.key') })).toThrow(
      /^BATON_TLS_CERT \/ BATON_TLS_KEY: not usable PEM/,
    );
    expect(() => loadServerTls({ tlsCertFile: file('a.crt'), tlsKeyFile: file('b.key') })).toThrow(
      /^BATON_TLS_CERT \/ BATON_TLS_KEY: not usable PEM/,
    );
    expect(() =>
      loadServerTls({ tlsCertFile: file('a.crt'), tlsKeyFile: file('a.key'), tlsClientCaFile: file('garbage.pem') }),
    ).toThrow(/^BATON_TLS_CLIENT_CA: not usable PEM/);
  });
});
