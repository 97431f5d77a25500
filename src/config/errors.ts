/**
 * @module config/errors
 * The error of a bad configuration, apart from the loader so that reporting it (cli/main) does not
 * load the schema validation and the YAML parser.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
