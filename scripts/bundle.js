// @ts-check
/**
 * Builds `dist/`: the server and CLI bundled by esbuild into a few ES modules.
 *
 * Why a bundle rather than tsc's one-file-per-module output: Node resolves, reads and compiles
 * each of ~700 modules (ours and node_modules') one by one before `serve` can listen. One bundle
 * per CLI command, split into shared chunks, starts in ~60 % of the time and holds less heap
 * (measured in bench/README.md, "Start-up"). Types are checked by `npm run typecheck`, not here.
 *
 * Every output file lands in `dist/cli/`, two levels below the project root like the sources in
 * `src/<dir>/`: modules that find files relative to themselves (`package.json`, `web/dist/`) do so
 * with the same `../../` from either place.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');

await rm(path.join(root, 'dist'), { recursive: true, force: true });

await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir: 'dist/cli',
  chunkNames: 'chunk-[hash]',
  bundle: true,
  // Each CLI command is a dynamic import: a chunk of its own, loaded only when it runs.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.11',
  // Native addons find their binaries relative to their own package, so they stay in node_modules.
  external: ['better-sqlite3', '@node-rs/argon2'],
  // Whitespace and syntax only: names stay, so stack traces in logs still read.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  legalComments: 'none',
  // Bundled CommonJS packages call require() for Node's built-ins; an ES module has none.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
