/**
 * Full TLS handshakes in a loop, `concurrency` at a time, each on a new TCP connection
 * without session resumption, so every one costs the server a private-key operation.
 * Run as a script (in a client namespace):
 *   node tls-handshake-loop.js HOST PORT CONCURRENCY SECONDS [TLSv1.2|TLSv1.3] [sigalgs]
 * prints one JSON line per handshake ({t, ok, ms, err}) when OCS_LOOP_EVENTS=1, then a
 * summary line {ok, failed, seconds, perSecond}.
 */
import { connect, type SecureVersion } from 'node:tls';

export interface LoopSummary { ok: number; failed: number; seconds: number; perSecond: number }

function once(host: string, port: number, version: SecureVersion, sigalgs?: string): Promise<string | null> {
  return new Promise((resolve) => {
    const s = connect({ host, port, rejectUnauthorized: false, minVersion: version, maxVersion: version, sigalgs, session: undefined }, () => {
      s.destroy();
      resolve(null);
    });
    s.setTimeout(10_000, () => s.destroy(new Error('timeout')));
    s.on('error', (err) => resolve(err.message));
  });
}

export async function handshakeLoop(host: string, port: number, concurrency: number, seconds: number,
  version: SecureVersion = 'TLSv1.3', sigalgs?: string, onEvent?: (e: { t: number; ok: boolean; ms: number; err?: string }) => void): Promise<LoopSummary> {
  const until = Date.now() + seconds * 1000;
  const start = Date.now();
  let ok = 0;
  let failed = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < until) {
      const t0 = Date.now();
      const err = await once(host, port, version, sigalgs);
      if (err) failed++;
      else ok++;
      onEvent?.({ t: t0, ok: !err, ms: Date.now() - t0, err: err ?? undefined });
    }
  }));
  const elapsed = (Date.now() - start) / 1000;
  return { ok, failed, seconds: elapsed, perSecond: ok / elapsed };
}

if (require.main === module) {
  const [host, port, concurrency, seconds, version, sigalgs] = process.argv.slice(2);
  const events = process.env.OCS_LOOP_EVENTS === '1';
  handshakeLoop(host, Number(port), Number(concurrency), Number(seconds), (version || 'TLSv1.3') as SecureVersion, sigalgs || undefined,
    events ? (e) => process.stdout.write(`${JSON.stringify(e)}\n`) : undefined)
    .then((s) => process.stdout.write(`${JSON.stringify({ summary: s })}\n`));
}
