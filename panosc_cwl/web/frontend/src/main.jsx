// H5Web over the server's h5grove endpoints; the file to show comes from ?file=RUN/out/REL.
// H5Web follows the NeXus `default` attributes, so the default plot shows without clicks.
import React from 'react';
import { createRoot } from 'react-dom/client';
import { App, H5GroveProvider } from '@h5web/app';
import '@h5web/app/dist/styles.css';

const file = new URLSearchParams(window.location.search).get('file') || '';

createRoot(document.getElementById('root')).render(
  <H5GroveProvider url={`${window.location.origin}/h5grove`} filepath={file}>
    <App />
  </H5GroveProvider>,
);
