/**
 * Runs a target with fast-check: a seeded property "fuzz(input) throws nothing and takes
 * less than slowMs", shrinking a failure to a small input. Synchronous, so a hang is caught
 * from outside (bench/fuzz/run.ts runs each target in a child process it can kill).
 */
import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import type { FuzzTarget } from './target';

export class SlowInputError extends Error { override name = 'SlowInputError'; }

export interface FuzzFailure {
  target: string;
  seed: number;
  /** fast-check's replay path: fc.check(..., { seed, path }) reaches the same input */
  path: string;
  /** the shrunk input */
  inputHex: string;
  error: string;
}

export interface ChunkResult { runs: number; ms: number; failure?: FuzzFailure }

export function runChunk(t: FuzzTarget, seed: number, runs: number, slowMs: number): ChunkResult {
  const start = performance.now();
  const details = fc.check(fc.property(t.inputs, (input) => {
    const t0 = performance.now();
    t.fuzz(input);
    const took = performance.now() - t0;
    if (took > slowMs) throw new SlowInputError(`one input took ${Math.round(took)} ms (limit ${slowMs} ms)`);
  }), { seed, numRuns: runs });
  const ms = performance.now() - start;
  if (!details.failed) return { runs: details.numRuns, ms };
  const input = details.counterexample?.[0] as Buffer | undefined;
  const err = details.errorInstance as Error | undefined;
  return {
    runs: details.numRuns,
    ms,
    failure: {
      target: t.name,
      seed: details.seed,
      path: details.counterexamplePath ?? '',
      inputHex: input ? input.toString('hex') : '',
      error: err?.stack?.split('\n').slice(0, 6).join('\n') ?? String(err),
    },
  };
}

/** Replays one recorded input (a regression) and returns what it threw, if anything. */
export function replay(t: FuzzTarget, inputHex: string): unknown {
  try {
    t.fuzz(Buffer.from(inputHex, 'hex'));
    return undefined;
  } catch (err) {
    return err;
  }
}
