/**
 * The client's half of a CSTP channel read without Node's TLS, for TLS 1.3 with an AEAD
 * suite: the TCP socket is read and its records opened by src/native/cstp_reader.cc, which
 * hands over every frame of a read in one call. Node's TLS socket keeps the other half (what
 * the server sends) and the handshake.
 *
 * The key comes from the client's application traffic secret, which OpenSSL reports through
 * the socket's keylog event during the handshake (keepClientSecret, set up before it), as
 * RFC 8446 7.3 derives it. The takeover happens when the tunnel starts, between the CONNECT
 * request and the answer to it: the client sends nothing in between, so nothing is left in
 * Node's buffers, and from then on Node does not read the socket at all.
 */
import type { TLSSocket } from 'node:tls';
import { CstpReader, dupFd, hmac } from '../native';

interface Suite { alg: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305'; hash: 'sha256' | 'sha384'; keyLen: number }

const SUITES: Record<string, Suite> = {
  TLS_AES_128_GCM_SHA256: { alg: 'aes-128-gcm', hash: 'sha256', keyLen: 16 },
  TLS_AES_256_GCM_SHA384: { alg: 'aes-256-gcm', hash: 'sha384', keyLen: 32 },
  TLS_CHACHA20_POLY1305_SHA256: { alg: 'chacha20-poly1305', hash: 'sha256', keyLen: 32 },
};

const SECRET_LABEL = 'CLIENT_TRAFFIC_SECRET_0 ';
/**
 * Records the client may have sent on the connection before the takeover (its login's
 * requests, one or two each): the first record after it is tried against this many
 * sequence numbers, an AEAD check each, once per tunnel.
 */
const SEQUENCE_WINDOW = 1024;

/** HKDF-Expand-Label (RFC 8446 7.1), for outputs no longer than one hash. */
export function expandLabel(hash: 'sha256' | 'sha384', secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  // HkdfLabel (length, label, an empty context), then HKDF-Expand's first block counter
  const input = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0, 1])]);
  return hmac(hash, secret, input).subarray(0, length);
}

/** Listens, before the handshake, for the client's first application traffic secret. */
export function keepClientSecret(socket: TLSSocket): () => Buffer | undefined {
  let secret: Buffer | undefined;
  socket.on('keylog', (line: Buffer) => {
    if (line.toString('latin1', 0, SECRET_LABEL.length) !== SECRET_LABEL) return;
    const hex = line.toString('latin1').trim().split(' ')[2];
    if (hex) secret = Buffer.from(hex, 'hex');
  });
  return () => secret;
}

export interface NativeCstpCallbacks {
  /** frames of one read, lent (see CstpReader) */
  frames(slab: Buffer, lengths: Uint32Array, types: Uint8Array, count: number): void;
  end(reason: string, error: boolean): void;
}

/**
 * Takes the client's half of the channel from Node, or returns undefined (TLS 1.2, another
 * suite, no secret) and changes nothing. fd is the socket's own, which stays Node's: the
 * reader works on a duplicate. Chunks Node had already decrypted go to `before` first.
 */
export function readNatively(socket: TLSSocket, fd: number, secret: Buffer | undefined, cb: NativeCstpCallbacks, before: (chunk: Buffer) => void): CstpReader | undefined {
  const suite = SUITES[socket.getCipher()?.standardName ?? ''];
  const handle = (socket as unknown as { _handle?: { readStop?: () => number; reading?: boolean } })._handle;
  if (!secret || !suite || socket.getProtocol() !== 'TLSv1.3' || typeof handle?.readStop !== 'function') return undefined;
  let current = secret;
  const keys = (s: Buffer): [Buffer, Buffer] => [expandLabel(suite.hash, s, 'key', suite.keyLen), expandLabel(suite.hash, s, 'iv', 12)];
  const [key, iv] = keys(current);
  // Node reads no more: its stream never asks again, and its handle stops now
  socket.pause();
  (socket as unknown as { _read: () => void })._read = () => {};
  handle.reading = false;
  handle.readStop();
  for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null;) before(chunk);
  const reader: CstpReader = new CstpReader(dupFd(fd), suite.alg, key, iv, {
    onFrames: (count) => cb.frames(reader.slab, reader.lengths, reader.types, count),
    onKeyUpdate: () => {
      current = expandLabel(suite.hash, current, 'traffic upd', current.length);
      return keys(current);
    },
    onEnd: (reason, error) => cb.end(reason, error),
  }, SEQUENCE_WINDOW);
  return reader;
}
