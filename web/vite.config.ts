/**
 * Builds the web UI into web/dist: index.html plus content-hashed files under assets/, which
 * `berth serve` hands out with long-lived cache headers. JSX goes through Vite's own Oxc
 * transform (no Babel), pointed at Preact's runtime.
 */
import { defineConfig } from 'vite';

const root = decodeURIComponent(new URL('.', import.meta.url).pathname);
/** `vite --config web/vite.config.ts` serves the UI and passes the API through to this Berth. */
const berth = process.env['BERTH_DEV_URL'] ?? 'http://127.0.0.1:5000';

export default defineConfig({
  root,
  base: '/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // Browsers this UI targets all support modulepreload; the polyfill would be dead weight.
    modulePreload: { polyfill: false },
    // Small assets stay hashed files too, rather than data: URLs inside the bundle.
    assetsInlineLimit: 0,
  },
  server: {
    host: '127.0.0.1',
    proxy: { '/api': berth, '/v2': berth, '/ca.crt': berth },
  },
});
