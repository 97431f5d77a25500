/**
 * @module http/external-url
 * Where clients reach this registry, for absolute URLs such as the token realm. In order:
 * the configured external URL; else what a trusted proxy forwarded (`X-Forwarded-Proto`,
 * `X-Forwarded-Host`, `X-Forwarded-Port` — Fastify's trustProxy already vets the first two);
 * else the request itself. An `http://` realm behind a TLS proxy is the classic failure this avoids.
 */
import type { FastifyRequest } from 'fastify';

export function externalBase(request: FastifyRequest, configured: string | undefined): string {
  if (configured !== undefined) return configured;
  let host = request.host;
  const forwardedPort = request.headers['x-forwarded-port'];
  if (
    typeof forwardedPort === 'string' &&
    /^\d{1,5}$/.test(forwardedPort) &&
    request.host !== request.raw.headers.host
  ) {
    // The proxy forwarded the host; a forwarded port that the host lacks belongs to it.
    if (!/:\d+$/.test(host) || host.endsWith(']')) {
      const defaultPort = request.protocol === 'https' ? '443' : '80';
      if (forwardedPort !== defaultPort) host = `${host}:${forwardedPort}`;
    }
  }
  return `${request.protocol}://${host}`;
}
