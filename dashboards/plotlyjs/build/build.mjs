// Builds ../plotly-riskgov.min.js: plotly.js's core (the scatter trace and every component:
// annotations, shapes, legend, colorbar, hover, modebar, …) with only the trace types below,
// the ones riskgov's figures draw (dashboards/plotlyjs/__init__.py, TRACES there too).
//
//     cd dashboards/plotlyjs/build && npm ci && npm run build
//
// The same esbuild settings as plotly.js's own bundles (an IIFE whose top-level `var Plotly`
// is the global dcc.Graph uses, es2016, `global` as `window`, AMD off), and like them
// without the attributes' descriptions (the schema's documentation, never read when
// drawing). CSS imports are dropped: the only one is maplibre-gl's, required when a map
// trace registers, and none does here.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const TRACES = ['bar', 'histogram', 'heatmap']; // scatter is in the core

const here = new URL('.', import.meta.url);
const out = new URL('../plotly-riskgov.min.js', here);
const { version } = JSON.parse(readFileSync(new URL('node_modules/plotly.js/package.json', here)));
const wanted = JSON.parse(readFileSync(new URL('package.json', here))).devDependencies['plotly.js'];
if (version !== wanted) throw new Error(`node_modules has plotly.js ${version}, package.json wants ${wanted}: npm ci`);

const entry = [
    "'use strict';",
    "var Plotly = require('plotly.js/lib/core');",
    `Plotly.register([${TRACES.map((t) => `require('plotly.js/lib/${t}')`).join(', ')}]);`,
    'module.exports = Plotly;'
].join('\n');

// `description: '…'`, `description: "…"` and `description: ['…', …].join(' ')` properties (from
// the key to its comma, or to the closing brace; the line break and anything after it stay)
const STR = String.raw`(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")`;
const END = String.raw`[ \t]*(?:,|(?=\s*\}))`;
const ONE_LINE = new RegExp(String.raw`[ \t]*\bdescription:\s*${STR}${END}`, 'g');
const JOINED = new RegExp(String.raw`[ \t]*\bdescription:\s*\[(?:\s|,|\+|${STR})*\]\s*\.join\(\s*${STR}\s*\)${END}`, 'g');

const stripDescriptions = {
    name: 'strip-descriptions',
    setup(b) {
        b.onLoad({ filter: /[\\/]plotly\.js[\\/]src[\\/].*\.js$/ }, (args) => {
            const code = readFileSync(args.path, 'utf8');
            return { contents: code.replace(JOINED, '').replace(ONE_LINE, ''), loader: 'js' };
        });
    }
};

const noCss = {
    name: 'no-css',
    setup(b) {
        b.onResolve({ filter: /\.css$/ }, (args) => ({ path: args.path, namespace: 'no-css' }));
        b.onLoad({ filter: /.*/, namespace: 'no-css' }, () => ({ contents: '', loader: 'js' }));
    }
};

const banner = [
    '/**',
    `* plotly.js (riskgov: ${['scatter', ...TRACES].join(', ')} - minified) v${version}`,
    '* Copyright 2012-2026, Plotly, Inc.',
    '* All rights reserved.',
    '* Licensed under the MIT license',
    '*/'
].join('\n');

await build({
    stdin: { contents: entry, resolveDir: here.pathname, sourcefile: 'riskgov-plotly.js' },
    outfile: out.pathname,
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    legalComments: 'eof',
    target: 'es2016',
    define: { global: 'window', 'define.amd': 'false' },
    plugins: [stripDescriptions, noCss],
    banner: { js: banner },
    logLevel: 'info'
});

const body = readFileSync(out);
console.log(`${out.pathname}: ${body.length} bytes, ${gzipSync(body, { level: 9 }).length} gzipped`);
