/** Compressed input that does not decode within the bound it was given. */
export class DecompressError extends Error {
  override name = 'DecompressError';
}
