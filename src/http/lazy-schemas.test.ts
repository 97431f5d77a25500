import { describe, expect, it } from 'vitest';
import { lazySchemas } from './lazy-schemas.js';

const schema = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 2 } },
  required: ['name'],
  additionalProperties: false,
};

function compilers() {
  const lazy = lazySchemas();
  const { buildValidator, buildSerializer } = lazy.compilersFactory;
  if (!buildValidator || !buildSerializer) throw new Error('both compilers are expected');
  const validator = buildValidator({}, { customOptions: {} });
  const serializer = buildSerializer({}, {});
  return { lazy, validator, serializer };
}

describe('lazySchemas', () => {
  it('validates like Ajv and hands Fastify the errors of the last call', () => {
    const { validator } = compilers();
    const validate = validator({
      schema,
      method: 'POST',
      url: '/x',
      httpPart: 'body',
    }) as unknown as ((data: unknown) => boolean) & { errors?: { message?: string }[] | null };
    expect(validate({ name: 'ab' })).toBe(true);
    expect(validate.errors ?? null).toBeNull();
    expect(validate({ name: 'a' })).toBe(false);
    expect(validate.errors?.[0]?.message).toMatch(/fewer than 2 characters/);
    expect(validate({ name: 'abc' })).toBe(true);
    expect(validate.errors ?? null).toBeNull();
  });

  it('serializes through fast-json-stringify: undeclared fields never leave', () => {
    const { serializer } = compilers();
    const serialize = serializer({ schema, method: 'GET', url: '/x', httpStatus: '200' });
    expect(serialize({ name: 'ab', secret: 'hash' })).toBe('{"name":"ab"}');
  });

  it('compiles nothing until asked, and compileAll compiles each schema once', () => {
    const { lazy, validator, serializer } = compilers();
    validator({ schema, method: 'POST', url: '/a', httpPart: 'body' });
    const used = validator({ schema, method: 'POST', url: '/b', httpPart: 'body' });
    serializer({ schema, method: 'GET', url: '/a', httpStatus: '200' });
    (used as unknown as (data: unknown) => boolean)({ name: 'ab' });
    expect(lazy.compileAll()).toBe(2);
    expect(lazy.compileAll()).toBe(0);
  });

  it('reports a schema that cannot compile when compileAll runs', () => {
    const { lazy, validator } = compilers();
    validator({
      schema: { type: 'no-such-type' },
      method: 'GET',
      url: '/bad',
      httpPart: 'querystring',
    });
    expect(() => lazy.compileAll()).toThrow(/no-such-type|type/);
  });
});
