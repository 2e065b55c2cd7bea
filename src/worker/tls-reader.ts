import { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * The tunnel's way to read a TLS socket: each read's plaintext is copied into one buffer,
 * reused, and handed to a callback. Node's stream path allocates a Buffer per TLS record
 * and runs it through the Readable machinery; openconnect sends one record per packet, so
 * at tunnel rates that path cost more CPU than the crypto, and its garbage kept V8's
 * collector busy.
 *
 * This is net.Socket's own `onread` mode (a documented option of net.connect and
 * tls.connect). Node only takes it when it makes the socket, so for a socket that is already
 * open we set the three properties that option sets; Node keeps them under symbols of its
 * own, found here on a socket made with the option. Where they are not found (another
 * Node), readInto() returns false and the caller reads 'data' events as before.
 */
interface OnreadSymbols { buffer: symbol; callback: symbol; generator: symbol }

let symbols: OnreadSymbols | null | undefined;

function onreadSymbols(): OnreadSymbols | null {
  if (symbols !== undefined) return symbols;
  // @types/node has onread on net.connect()'s options only; net.Socket takes it the same way
  const probe = new Socket({ onread: { buffer: Buffer.alloc(1), callback: () => true } } as ConstructorParameters<typeof Socket>[0]);
  const byName = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
  probe.destroy();
  const buffer = byName.get('kBuffer'), callback = byName.get('kBufferCb'), generator = byName.get('kBufferGen');
  symbols = buffer && callback && generator ? { buffer, callback, generator } : null;
  return symbols;
}

/**
 * From now on, socket's plaintext goes to onData(bytes), a view of `buffer` valid during the
 * call only. What the socket had read already comes first, through the same callback. 'end',
 * 'close' and 'error' are emitted as before. Returns false, changing nothing, where this Node
 * does not allow it.
 */
export function readInto(socket: TLSSocket, buffer: Buffer, onData: (bytes: Buffer) => void): boolean {
  const sym = onreadSymbols();
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Buffer) => void } })._handle;
  if (!sym || typeof handle?.useUserBuffer !== 'function') return false;
  // in order: what sits in the stream's buffer was read before anything the handle reads next
  for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null;) onData(chunk);
  const s = socket as unknown as Record<symbol, unknown>;
  s[sym.buffer] = buffer;
  s[sym.generator] = null;
  // true: keep reading (a false would stop the handle, as backpressure)
  s[sym.callback] = (n: number, buf: Buffer) => { onData(buf.subarray(0, n)); return true; };
  handle.useUserBuffer(buffer);
  // flowing, so that the end of the stream is still seen ('end'), and reading
  socket.resume();
  return true;
}
