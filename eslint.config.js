// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NO_HTTP = {
  group: ['fastify', 'fastify/*', '@fastify/*', '**/http/**', '**/cli/**'],
  message: 'The domain and the stores know nothing about HTTP or the CLI (DESIGN.md §3).',
};
const DB_ONLY_IN_META = {
  group: [
    'kysely',
    'kysely/*',
    'better-sqlite3',
    'pg',
    'pg/*',
    'pg-*',
    // The SQL behind the interfaces: its queries and row shapes.
    '**/meta/sql-*',
    '**/meta/schema.js',
    '**/meta/migrations/**',
  ],
  message: 'SQL and database drivers live in src/meta; take a MetaStore interface instead.',
};

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'web/dist/',
      'node_modules/',
      'coverage/',
      'data/',
      'bench/results/',
      'test-artifacts/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-confusing-void-expression': 'off',
    },
  },
  {
    // SQL and the database drivers stay behind the MetaStore interfaces in src/meta (issue 17):
    // the rest of Berth sees neither Kysely nor driver types, whichever engine runs.
    files: ['src/**'],
    ignores: ['src/meta/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [DB_ONLY_IN_META] }] },
  },
  {
    // The domain and the stores know nothing about HTTP (DESIGN.md §3). A later block replaces
    // the rule's options rather than adding to them, so these repeat the database patterns.
    files: ['src/core/**', 'src/registry/**', 'src/storage/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_HTTP, DB_ONLY_IN_META] }] },
  },
  {
    files: ['src/meta/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_HTTP] }] },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
