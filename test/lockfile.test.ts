/**
 * `npm ci` refuses a lock that names a package it has no entry for. The registry this
 * project installs from lacks some optional platform packages (msgpackr-extract's builds for
 * macOS, Windows and 32-bit ARM), and `npm install` records them as wanted anyway: this
 * test catches that before CI does (fix: drop the names from that package's
 * optionalDependencies in package-lock.json, see docs/DEPENDENCIES.md).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

t.test('every dependency the lock names has an entry', async (t) => {
  const lock = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package-lock.json'), 'utf8'));
  const have = new Set(Object.keys(lock.packages).map((k: string) => k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length)));
  const missing: string[] = [];
  for (const [path, entry] of Object.entries<Record<string, Record<string, string>>>(lock.packages)) {
    for (const field of ['dependencies', 'optionalDependencies']) {
      for (const name of Object.keys(entry[field] ?? {})) if (!have.has(name)) missing.push(`${path || '(root)'} -> ${name}`);
    }
  }
  t.same(missing, [], 'names without entries make npm ci fail');
});
