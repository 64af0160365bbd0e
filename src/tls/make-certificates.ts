/**
 * Making the generated certificates: the local CA and the server certificate it signs, with
 * @peculiar/x509 over WebCrypto. Its own file: only a start that must make one loads the library
 * (0.15-0.3 s); reading and checking certificates (certificates.ts) needs only node:crypto.
 */
import { webcrypto, type KeyObject, type X509Certificate } from 'node:crypto';
import {
  addDays,
  CA_CERT_DAYS,
  encodeNameConstraints,
  nameConstraintsFor,
  SERVER_CERT_DAYS,
  subjectAltNames,
} from './plan.js';

type X509Lib = typeof import('@peculiar/x509');

/** Loaded on demand and only when something must be made: `up` without a change never pays for it. */
let x509Loaded: Promise<X509Lib> | undefined;
function lazyX509(): Promise<X509Lib> {
  return (x509Loaded ??= (async () => {
    // @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API.
    await import('reflect-metadata');
    const lib = await import('@peculiar/x509');
    lib.cryptoProvider.set(webcrypto as unknown as Parameters<X509Lib['cryptoProvider']['set']>[0]);
    return lib;
  })());
}

/** ECDSA P-256: quick to make, small handshakes, and accepted by every client MLflow users have. */
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

async function exportKey(lib: X509Lib, key: webcrypto.CryptoKey): Promise<string> {
  return lib.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A local CA for `names`: its certificate (limited to those names by Name Constraints) and key, as PEM. */
export async function makeCa(names: readonly string[], now: Date): Promise<{ certPem: string; keyPem: string }> {
  const lib = await lazyX509();
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  // A name that tells this CA from another machine's when someone has trusted several.
  const cert = await lib.X509CertificateGenerator.createSelfSigned({
    name: `CN=mlflow-secure local CA ${now.toISOString().slice(0, 10)} ${Buffer.from(webcrypto.getRandomValues(new Uint8Array(4))).toString('hex')}, O=mlflow-secure`,
    notBefore: addDays(now, -1),
    notAfter: addDays(now, CA_CERT_DAYS),
    signingAlgorithm: ALG,
    keys,
    // Python 3.13 verifies strictly (VERIFY_X509_STRICT): a CA needs critical basicConstraints
    // and keyUsage, and key identifiers. https://docs.python.org/3/library/ssl.html#ssl.VERIFY_X509_STRICT
    extensions: [
      new lib.BasicConstraintsExtension(true, 0, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await lib.AuthorityKeyIdentifierExtension.create(keys.publicKey),
      // Critical, as RFC 5280 wants: a client that cannot read them must refuse the chain.
      new lib.Extension(NAME_CONSTRAINTS_OID, true, encodeNameConstraints(nameConstraintsFor(names))),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: (await exportKey(lib, keys.privateKey)) + '\n' };
}

const NAME_CONSTRAINTS_OID = '2.5.29.30';

/** A server certificate for `names`, signed by the CA, and its key, as PEM. */
export async function makeServerCert(
  ca: X509Certificate,
  caKey: KeyObject,
  names: readonly string[],
  now: Date,
): Promise<{ certPem: string; keyPem: string }> {
  const lib = await lazyX509();
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const signingKey = await webcrypto.subtle.importKey(
    'pkcs8',
    caKey.export({ type: 'pkcs8', format: 'der' }),
    ALG,
    false,
    ['sign'],
  );
  const issuer = new lib.X509Certificate(ca.raw);
  const cert = await lib.X509CertificateGenerator.create({
    subject: `CN=${names[0] ?? 'localhost'}`,
    issuer: issuer.subject,
    // A day back: a client whose clock is a little behind still accepts it.
    notBefore: addDays(now, -1),
    notAfter: addDays(now, SERVER_CERT_DAYS),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey,
    extensions: [
      new lib.BasicConstraintsExtension(false, undefined, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature, true),
      new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth]),
      new lib.SubjectAlternativeNameExtension(subjectAltNames(names)),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await lib.AuthorityKeyIdentifierExtension.create(issuer),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: (await exportKey(lib, keys.privateKey)) + '\n' };
}
