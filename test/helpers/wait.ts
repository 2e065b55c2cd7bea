/** Polling for the integration tests: what a server or client does reaches us a little later. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Resolves with the first truthy value of `get`, polled every 100 ms; throws after `ms`
 * naming `what`, with `detail()` (a log tail, a file) to show why.
 */
export async function until<T>(
  what: string,
  get: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ms = 20_000,
  detail: () => string = () => '',
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await sleep(100);
  }
}
