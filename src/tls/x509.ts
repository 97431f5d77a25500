/**
 * @module tls/x509
 * @peculiar/x509 with Node's own WebCrypto as its crypto provider. The library resolves its
 * parts through tsyringe, which needs the Reflect metadata API: the polyfill is imported first.
 * Only certificate generation loads this module, so a server that merely serves a certificate
 * never pays for it.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };
