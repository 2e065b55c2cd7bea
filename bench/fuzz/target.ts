/**
 * What a fuzz target is: one parser that sees outside (or less trusted) input, a function
 * that feeds it one input and may throw nothing but the parser's own error (the targets
 * catch that themselves, so anything that escapes `fuzz` is a finding), and a generator of
 * inputs. Inputs are always plain bytes, even for structure-aware generators (they encode
 * what they build), so a failure is reproduced from its hex alone.
 */
import type fc from 'fast-check';

export interface FuzzTarget {
  name: string;
  /** what an attacker controls here, in a line */
  surface: string;
  /** compiled files (under dist/src) whose coverage is reported */
  sources: string[];
  /** one input; returns normally when the parser accepted or refused it in its own way */
  fuzz(input: Buffer): void;
  /** structure-aware inputs mixed with raw bytes and mutations of both */
  inputs: fc.Arbitrary<Buffer>;
}

/** An invariant of the parser's output did not hold (a finding like an unexpected throw). */
export class InvariantError extends Error { override name = 'InvariantError'; }

export function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new InvariantError(what);
}
