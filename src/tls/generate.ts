/**
 * @module tls/generate
 * Certificates as clients expect them in 2020s TLS: a private CA (basicConstraints CA:true,
 * keyCertSign + cRLSign, 10 years) and a server certificate it signs, with every name the
 * clients dial in subjectAltName (Go 1.15+ — docker, containerd, podman — ignores the CN),
 * serverAuth extended key usage and at most 397 days of validity (the longest Apple's and the
 * browsers' rules accept). Keys are ECDSA P-256 unless RSA 3072 is asked for. The X.509
 * encoding is done by @peculiar/x509; the keys and signatures come from Node's WebCrypto.
 */
import { createPrivateKey, KeyObject, randomBytes, type webcrypto } from 'node:crypto';
import { ConfigError } from '../config/load.js';
import type { CertificateNames } from './names.js';
import { x509 } from './x509.js';

export type KeyAlgorithm = 'ecdsa-p256' | 'rsa-3072';

/** A certificate and its private key, PEM (the key PKCS#8). */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

const DAY_MS = 24 * 3600 * 1000;
export const CA_VALIDITY_DAYS = 3652;
export const SERVER_VALIDITY_DAYS = 397;
/** Certificates start a little in the past: a client whose clock is behind still accepts them. */
const BACKDATE_MS = 5 * 60 * 1000;

type GenerateParams = webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams;

function generateParams(algorithm: KeyAlgorithm): GenerateParams {
  switch (algorithm) {
    case 'ecdsa-p256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'rsa-3072':
      return {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 3072,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      };
  }
}

async function generateKeys(algorithm: KeyAlgorithm): Promise<webcrypto.CryptoKeyPair> {
  // Extractable: the private key is written to a file.
  return globalThis.crypto.subtle.generateKey(generateParams(algorithm), true, ['sign', 'verify']);
}

function privateKeyPem(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A positive 128-bit serial number (RFC 5280 asks for at most 20 octets, unpredictable). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  // Clear the sign bit and keep the first octet non-zero: the DER integer stays 16 octets.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** The signing parameters for an existing private key (a CA made earlier, maybe by an older run). */
interface SigningKey {
  key: webcrypto.CryptoKey;
  algorithm: webcrypto.EcdsaParams | webcrypto.Algorithm;
}

async function importSigningKey(keyPem: string): Promise<SigningKey> {
  const key = createPrivateKey(keyPem);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const subtle = globalThis.crypto.subtle;
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const named = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
    if (named) {
      const hash = named === 'P-256' ? 'SHA-256' : 'SHA-384';
      return {
        key: await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: named }, false, [
          'sign',
        ]),
        algorithm: { name: 'ECDSA', hash },
      };
    }
  }
  if (key.asymmetricKeyType === 'rsa') {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return { key: await subtle.importKey('pkcs8', der, algorithm, false, ['sign']), algorithm };
  }
  throw new ConfigError(
    `the CA key is ${key.asymmetricKeyType ?? 'of an unknown type'}` +
      `${key.asymmetricKeyDetails?.namedCurve ? ` (${key.asymmetricKeyDetails.namedCurve})` : ''}; ` +
      'Berth signs with ECDSA P-256/P-384 or RSA CA keys',
  );
}

/** A self-signed private CA. */
export async function createCa(options: {
  commonName: string;
  algorithm: KeyAlgorithm;
  now?: Date;
}): Promise<PemPair> {
  const keys = await generateKeys(options.algorithm);
  const notBefore = new Date((options.now ?? new Date()).getTime() - BACKDATE_MS);
  const name = [{ CN: [options.commonName] }, { O: ['Berth'] }];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name,
    notBefore,
    notAfter: new Date(notBefore.getTime() + CA_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: { name: keys.privateKey.algorithm.name, hash: 'SHA-256' },
    keys,
    extensions: [
      // No path length limit is needed, but 0 says what this CA is for: server certificates only.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: privateKeyPem(keys.privateKey) };
}

/** A server certificate for `names`, signed by `ca`. */
export async function createServerCertificate(options: {
  ca: PemPair;
  names: CertificateNames;
  algorithm: KeyAlgorithm;
  now?: Date;
}): Promise<PemPair> {
  const { names } = options;
  const caCert = new x509.X509Certificate(options.ca.certPem);
  const signer = await importSigningKey(options.ca.keyPem);
  const keys = await generateKeys(options.algorithm);
  const notBefore = new Date((options.now ?? new Date()).getTime() - BACKDATE_MS);
  const commonName = names.dns[0] ?? names.ips[0] ?? '';
  const caKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  let usages = x509.KeyUsageFlags.digitalSignature;
  // RSA key exchange (TLS 1.2 without ECDHE) encrypts with the server's key.
  if (options.algorithm === 'rsa-3072') usages |= x509.KeyUsageFlags.keyEncipherment;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [commonName] }],
    issuer: caCert.subjectName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + SERVER_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: signer.algorithm,
    signingKey: signer.key,
    publicKey: keys.publicKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: 'dns' as const, value })),
        ...names.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      caKeyId
        ? new x509.AuthorityKeyIdentifierExtension(caKeyId)
        : await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: privateKeyPem(keys.privateKey) };
}
