/**
 * Tiny runtime validators for messages that come from a less trusted process.
 * Each validator both checks and narrows, so a handler never sees an unchecked field.
 */
export class ValidationError extends Error { override name = 'ValidationError'; }

export type Validator<T> = (v: unknown, path: string) => T;
export type Infer<V> = V extends Validator<infer T> ? T : never;

function fail(path: string, what: string): never {
  throw new ValidationError(`${path}: ${what}`);
}

export const str = (maxLen: number): Validator<string> => (v, path) => {
  if (typeof v !== 'string') fail(path, 'not a string');
  if (v.length > maxLen) fail(path, `longer than ${maxLen}`);
  return v;
};

export const uint = (max = Number.MAX_SAFE_INTEGER): Validator<number> => (v, path) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(path, 'not an unsigned integer');
  if (v > max) fail(path, `above ${max}`);
  return v;
};

export const bool: Validator<boolean> = (v, path) => {
  if (typeof v !== 'boolean') fail(path, 'not a boolean');
  return v;
};

export const bytes = (maxLen: number): Validator<Uint8Array> => (v, path) => {
  if (!(v instanceof Uint8Array)) fail(path, 'not bytes');
  if (v.length > maxLen) fail(path, `longer than ${maxLen} bytes`);
  return v;
};

export const oneOf = <T extends string>(...values: T[]): Validator<T> => (v, path) => {
  if (typeof v !== 'string' || !(values as string[]).includes(v)) fail(path, `not one of ${values.join(', ')}`);
  return v as T;
};

export const optional = <T>(inner: Validator<T>): Validator<T | undefined> => (v, path) =>
  v === undefined || v === null ? undefined : inner(v, path);

export const array = <T>(inner: Validator<T>, maxItems: number): Validator<T[]> => (v, path) => {
  if (!Array.isArray(v)) fail(path, 'not an array');
  if (v.length > maxItems) fail(path, `more than ${maxItems} items`);
  return v.map((item, i) => inner(item, `${path}[${i}]`));
};

export const record = <T>(inner: Validator<T>, maxKeys: number, maxKeyLen = 64): Validator<Record<string, T>> => (v, path) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'not a map');
  const keys = Object.keys(v);
  if (keys.length > maxKeys) fail(path, `more than ${maxKeys} keys`);
  const out: Record<string, T> = Object.create(null);
  for (const k of keys) {
    if (k.length > maxKeyLen) fail(path, `key longer than ${maxKeyLen}`);
    out[k] = inner((v as Record<string, unknown>)[k], `${path}.${k}`);
  }
  return out;
};

type Shape = Record<string, Validator<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: undefined extends Infer<S[K]> ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] };
type FromShape<S extends Shape> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

/** Unknown keys are rejected: a worker has no business adding fields. */
export const obj = <S extends Shape>(shape: S): Validator<FromShape<S>> => (v, path) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'not an object');
  const input = v as Record<string, unknown>;
  for (const k of Object.keys(input)) if (!(k in shape)) fail(path, `unexpected field '${k}'`);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(shape)) {
    const val = shape[k](input[k], `${path}.${k}`);
    if (val !== undefined) out[k] = val;
  }
  return out as FromShape<S>;
};
