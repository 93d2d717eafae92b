// Builds the Svelte UI into dist/renderer: loaded by the desktop window from skp-app://ui/ and served
// to browsers by `skp serve`. Relative asset URLs work under both.
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

export default defineConfig({
  root: 'renderer',
  base: './',
  plugins: [svelte({ compilerOptions: { runes: true } })],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    target: 'es2022',
    // The CSP forbids inline scripts and styles; assets are always separate files.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
