import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// served by panosc-cwl serve under /static/h5web/
export default defineConfig({
  plugins: [react()],
  base: '/static/h5web/',
  // one bundle of H5Web + React (~2 MB) is expected: no chunk-size warning
  build: { outDir: '../static/h5web', emptyOutDir: true, chunkSizeWarningLimit: 4096 },
});
