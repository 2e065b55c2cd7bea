/**
 * The short, seeded fuzz run of every target (bench/fuzz/targets): 2,000 inputs each with a
 * fixed seed, so a failure repeats exactly. The long run (>= 1,000,000 inputs per target)
 * is `npm run fuzz`; its figures are in docs/RELIABILITY.md.
 */
import t from 'tap';
import { runChunk } from '../../bench/fuzz/engine';
import { allTargets } from '../../bench/fuzz/targets';

const SEED = Number(process.env.FUZZ_SEED ?? 20250101);
const RUNS = 2000;

for (const target of allTargets()) {
  t.test(`${target.name}: ${RUNS} inputs, seed ${SEED}`, async (t) => {
    // a generous per-input limit: this catches hangs and blow-ups, not slowness of a busy machine
    const r = runChunk(target, SEED, RUNS, 10_000);
    t.equal(r.runs, RUNS, 'every input ran');
    t.notOk(r.failure, `${target.surface}: nothing thrown but the parser's own refusals`, r.failure ? {
      replay: `node dist/bench/fuzz/run.js --targets ${target.name} --seed ${SEED} --runs ${RUNS} --chunk ${RUNS}`,
      path: r.failure.path, input: r.failure.inputHex.slice(0, 400), error: r.failure.error,
    } : {});
  });
}
