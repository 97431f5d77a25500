// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
    // The domain and the stores know nothing about HTTP (DESIGN.md §3).
    files: ['src/core/**', 'src/registry/**', 'src/storage/**', 'src/meta/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['fastify', 'fastify/*', '@fastify/*', '**/http/**', '**/cli/**'] },
      ],
    },
  },
  {
    files: ['src/registry/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            'fastify',
            '@fastify/*',
            'better-sqlite3',
            'kysely',
            '**/http/**',
            '**/cli/**',
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
