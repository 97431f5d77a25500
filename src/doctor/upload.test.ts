import { describe, expect, it } from 'vitest';
import {
  bufferingAdvice,
  bufferingSuspected,
  receivedBytes,
  stallAdvice,
  uploadAdvice,
} from './upload.js';

const options = { username: 'alice', repository: 'team/app' };
const json = (code: string, message: string): Buffer =>
  Buffer.from(JSON.stringify({ errors: [{ code, message }] }));

describe('uploadAdvice', () => {
  it('blames a proxy body limit for 413 and gives client_max_body_size 0', () => {
    const a = uploadAdvice('PATCH', 413, Buffer.from('<html>413</html>'), options, 1_000_000);
    expect(a.summary).toContain('a proxy in front limits the body size');
    expect(a.fix).toContain('client_max_body_size 0');
  });

  it('blames a proxy that wants Content-Length for 411 and gives the chunked settings', () => {
    const a = uploadAdvice('PATCH', 411, Buffer.alloc(0), options);
    expect(a.summary).toContain('a proxy demands Content-Length');
    expect(a.fix).toContain('proxy_http_version 1.1');
    expect(a.fix).toContain('chunked_transfer_encoding');
  });

  it('explains a denied push with the role and the namespace to bind it in', () => {
    const a = uploadAdvice(
      'POST',
      403,
      json('DENIED', 'requested access to the resource is denied'),
      options,
    );
    expect(a.summary).toContain('push to team/app denied for alice');
    expect(a.fix).toContain('berth user bind alice --role developer --namespace team');
    const anonymous = uploadAdvice('POST', 401, Buffer.alloc(0), { repository: 'app' });
    expect(anonymous.fix).toContain('--username');
  });

  it('tells to create a missing namespace', () => {
    const a = uploadAdvice(
      'POST',
      404,
      json('NAME_UNKNOWN', 'namespace team does not exist'),
      options,
    );
    expect(a.fix).toContain('berth namespace create team');
  });

  it('says the bytes changed on the way for DIGEST_INVALID', () => {
    expect(uploadAdvice('PUT', 400, json('DIGEST_INVALID', 'x'), options).summary).toContain(
      'different bytes',
    );
  });

  it('names a proxy timeout for 504 with how far the upload got', () => {
    const a = uploadAdvice('PATCH', 504, Buffer.alloc(0), options, 30_000_000);
    expect(a.summary).toBe('PATCH → 504 after 30 MB: the proxy gave up on Berth');
    expect(a.fix).toContain('proxy_read_timeout');
  });

  it('falls back to the status and the registry message', () => {
    expect(uploadAdvice('PUT', 500, json('UNKNOWN', 'disk full'), options).summary).toBe(
      'PUT → 500: disk full',
    );
  });
});

describe('buffering and stalls', () => {
  it('suspects buffering only for a long wait after the last byte', () => {
    expect(bufferingSuspected(1000, 200)).toBe(false);
    expect(bufferingSuspected(10_000, 2000)).toBe(false);
    expect(bufferingSuspected(1000, 4000)).toBe(true);
  });

  it('says a proxy buffers the upload when the answer waits, with the nginx fix', () => {
    const a = bufferingAdvice(1000, 4000, 50_000_000);
    expect(a.summary).toBe(
      'the answer came 4 s after the last byte (sending 50 MB took 1 s): a proxy seems to buffer the whole upload',
    );
    expect(a.fix).toContain('proxy_request_buffering off');
  });

  it('gives proxy_request_buffering off for both kinds of stall', () => {
    expect(stallAdvice('sending', 8_000_000, 30).summary).toBe(
      'the upload stalled after 8.0 MB: nothing moved for 30 s',
    );
    expect(stallAdvice('waiting', 50_000_000, 30).fix).toContain('proxy_request_buffering off');
  });
});

describe('receivedBytes', () => {
  it('reads the size the registry holds from the Range of a PATCH answer', () => {
    expect(receivedBytes('0-49999999')).toBe(50_000_000);
    expect(receivedBytes('bytes=0-9')).toBe(10);
    expect(receivedBytes(undefined)).toBeUndefined();
    expect(receivedBytes('5-9')).toBeUndefined();
  });
});
