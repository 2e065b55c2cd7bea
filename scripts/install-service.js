#!/usr/bin/env node
// `npm run install-service [-- options]`: puts config/systemd/ocserv-ts.service and
// ocserv-ts.socket into /etc/systemd/system with this installation's paths filled in, then
// reloads systemd. Enabling them is left to the administrator (printed at the end), since
// the socket unit takes port 443 at once. See docs/INSTALL.md.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join, resolve, isAbsolute } = require('node:path');
const { parseArgs } = require('node:util');

const UNITS = ['ocserv-ts.service', 'ocserv-ts.socket'];
const TEMPLATE_PREFIX = '/opt/ocserv-ts';
const TEMPLATE_CONFIG = '/etc/ocserv-ts/ocserv.conf';

const USAGE = `Usage: npm run install-service [-- options]
  --dest DIR      where the unit files go (default /etc/systemd/system)
  --prefix DIR    the ocserv-ts installation the service runs (default: this one, ${resolve(__dirname, '..')})
  --config FILE   the configuration the service reads (default ${TEMPLATE_CONFIG})
  --no-reload     do not run systemctl daemon-reload
`;

function fail(msg) {
  process.stderr.write(`install-service: ${msg}\n`);
  process.exit(1);
}

let opts;
try {
  opts = parseArgs({
    args: process.argv.slice(2),
    options: {
      dest: { type: 'string' },
      prefix: { type: 'string' },
      config: { type: 'string' },
      'no-reload': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  fail(`${err.message}\n${USAGE}`);
}
if (opts.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const dest = resolve(opts.dest ?? '/etc/systemd/system');
const prefix = resolve(opts.prefix ?? join(__dirname, '..'));
const config = opts.config ?? TEMPLATE_CONFIG;
// systemd splits ExecStart= at spaces and treats % and $ specially: keep the paths plain
for (const [what, p] of [['prefix', prefix], ['config', config]]) {
  if (!isAbsolute(p)) fail(`--${what} must be an absolute path: ${p}`);
  if (!/^[A-Za-z0-9_./+@-]+$/.test(p)) fail(`--${what} ${p}: use a path of letters, digits and ._/+@- only (systemd reads spaces, % and $ specially)`);
}
if (!existsSync(join(prefix, 'bin', 'ocserv-ts'))) fail(`${prefix} is not an ocserv-ts installation (no bin/ocserv-ts)`);
if (!existsSync(join(prefix, 'dist', 'src', 'main', 'index.js'))) fail(`${prefix} is not built (no dist/); run npm run build there first`);
if (/^\/(root|home)(\/|$)/.test(prefix)) {
  process.stderr.write(`install-service: warning: ${prefix} is under a home directory: workers (run-as-user) may be unable to read it, `
    + 'and the unit sets ProtectHome=read-only; /opt/ocserv-ts is the usual place\n');
}

mkdirSync(dest, { recursive: true });
const written = [];
for (const unit of UNITS) {
  const text = readFileSync(join(__dirname, '..', 'config', 'systemd', unit), 'utf8')
    .split(TEMPLATE_CONFIG).join(config)
    .split(TEMPLATE_PREFIX).join(prefix);
  const target = join(dest, unit);
  writeFileSync(target, text, { mode: 0o644 });
  written.push(target);
}
process.stdout.write(`installed ${written.join(' and ')}\n`);

// daemon-reload only where systemd runs, and only for its own unit directory
const systemdRunning = existsSync('/run/systemd/system');
if (!opts['no-reload'] && opts.dest === undefined && systemdRunning) {
  const r = spawnSync('systemctl', ['daemon-reload'], { stdio: 'inherit' });
  if (r.status !== 0) fail('systemctl daemon-reload failed');
}
process.stdout.write(`next:
  ${existsSync(config) ? '' : `create ${config} (see ocserv.conf.example), then\n  `}systemctl enable --now ocserv-ts.service                      # main binds tcp-port/udp-port itself
  or: systemctl enable --now ocserv-ts.socket ocserv-ts.service  # systemd holds TCP and UDP 443
  journalctl -u ocserv-ts -f                                     # its log
`);
