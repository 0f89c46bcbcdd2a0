import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// served by panosc-cwl serve under /static/h5web/
export default defineConfig({
  plugins: [react()],
  base: '/static/h5web/',
  build: { outDir: '../static/h5web', emptyOutDir: true },
});
