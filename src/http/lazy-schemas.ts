/**
 * @module http/lazy-schemas
 * Route schemas compiled on a route's first request instead of at start.
 *
 * Fastify compiles every route's validators (Ajv) and response serializers (fast-json-stringify)
 * when the server gets ready: about a quarter of a second of CPU and ~10 MB of heap for the admin
 * API's dozens of routes, most of which a registry that only serves docker pulls never calls. The
 * compilers here hand Fastify a small function that compiles on first use and then delegates.
 * `compileAll()` compiles whatever is still pending: the test suite calls it, so a schema that
 * does not compile still fails a test, not a user's first request.
 */
import ValidatorSelector from '@fastify/ajv-compiler';
import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

type CompilersFactory = NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>;
type BuildValidator = NonNullable<CompilersFactory['buildValidator']>;
type BuildSerializer = NonNullable<CompilersFactory['buildSerializer']>;
type Validator = ((data: unknown) => unknown) & { errors?: unknown };
/** What Fastify's own validator compiler returns: an Ajv validate function. */
type CompiledValidator = ReturnType<ReturnType<BuildValidator>>;

export interface LazySchemas {
  compilersFactory: CompilersFactory;
  /** Compiles every schema not compiled yet; returns how many it compiled (throws as Fastify would). */
  compileAll(): number;
}

export function lazySchemas(): LazySchemas {
  const pending = new Set<() => void>();

  const buildValidator: BuildValidator = (externalSchemas, ajvOptions) => {
    const compile = ValidatorSelector()(externalSchemas, ajvOptions);
    return (routeSchema) => {
      let compiled: Validator | undefined;
      const ensure = (): Validator => {
        compiled ??= compile(routeSchema) as unknown as Validator;
        pending.delete(ensure);
        return compiled;
      };
      pending.add(ensure);
      // Fastify reads `.errors` from the function it was given after a `false` result.
      const validate: Validator = (data) => {
        const inner = ensure();
        const result = inner(data);
        validate.errors = inner.errors;
        return result;
      };
      // Fastify only calls the function and reads `.errors`: Ajv's other members are not used.
      return validate as unknown as CompiledValidator;
    };
  };

  const buildSerializer: BuildSerializer = (externalSchemas, serializerOptions) => {
    const compile = SerializerSelector()(externalSchemas, serializerOptions);
    return (routeSchema) => {
      let compiled: ((data: unknown) => string) | undefined;
      const ensure = (): ((data: unknown) => string) => {
        compiled ??= compile(routeSchema);
        pending.delete(ensure);
        return compiled;
      };
      pending.add(ensure);
      return (data: unknown) => ensure()(data);
    };
  };

  return {
    compilersFactory: { buildValidator, buildSerializer },
    compileAll() {
      const count = pending.size;
      for (const ensure of [...pending]) ensure();
      return count;
    },
  };
}

const byServer = new WeakMap<FastifyInstance, LazySchemas>();

/** Remembers which lazy compilers a server was built with, for `compilePendingSchemas`. */
export function attachLazySchemas(app: FastifyInstance, schemas: LazySchemas): void {
  byServer.set(app, schemas);
}

/** Compiles every route schema of `app` not compiled yet (for tests and diagnostics). */
export function compilePendingSchemas(app: FastifyInstance): number {
  const schemas = byServer.get(app);
  if (!schemas) throw new Error('this server was not built with lazy schema compilers');
  return schemas.compileAll();
}
