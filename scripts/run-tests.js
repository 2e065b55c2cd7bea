#!/usr/bin/env node
// `npm test`: compile, run every test file with tap (one file at a time: integration tests
// drive real network namespaces and clients), and end with the line "N passed, M failed".
'use strict';
const { spawnSync, spawn } = require('node:child_process');
const { readdirSync, statSync } = require('node:fs');
const { join, relative } = require('node:path');

const root = join(__dirname, '..');
process.chdir(root);

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.js')) out.push(relative(root, p));
  }
  return out;
}

// Optional filter: `npm test -- integration` runs only files whose path contains a word.
const filters = process.argv.slice(2);
const files = find(join(root, 'dist', 'test')).sort()
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)));
// Unit tests first: they are quick and say most about a broken build.
files.sort((a, b) => Number(a.includes('/integration/')) - Number(b.includes('/integration/')));

const tap = spawn(process.execPath, [join(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs'), '--disable-coverage', '--jobs=1', '--reporter=tap', '--timeout=600', ...files], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let last = null;
let buf = '';
tap.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  buf += chunk.toString();
  const lines = buf.split('\n');
  buf = lines.pop();
  for (const l of lines) {
    const m = /^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/.exec(l);
    if (m) last = { total: +m[1], pass: +(m[2] ?? 0), fail: +(m[3] ?? 0) };
  }
});
tap.on('exit', (code) => {
  if (!last) last = { total: 0, pass: 0, fail: 1 };
  const failed = last.fail || (code !== 0 && last.fail === 0 ? 1 : 0);
  console.log(`${last.pass} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
});
