/**
 * The worker's DTLS server (src/dtls/server.ts with record.ts, handshake.ts, protection.ts):
 * datagrams from the client's UDP flow, before and after the handshake. `handleDatagram`
 * promises never to throw; the record splitter must keep every record inside its datagram.
 *
 * Input, read as a small script so that raw bytes also mean something:
 *   byte 0: bits 0-1 the mode (0 PSK-NEGOTIATE, 1 legacy DTLS 1.2 AES-256-GCM, 2 legacy
 *           DTLS 1.2 AES-128-GCM, 3 legacy DTLS 0.9 AES-128-CBC); bit 2: first complete the
 *           legacy handshake the way openconnect does, so that later records are decrypted
 *   then 16-bit-length-prefixed chunks; a chunk whose first byte is odd is, once the
 *           handshake is done, a record to protect with the client's keys (byte 1 content
 *           type, bytes 2-3 sequence number, rest plaintext); otherwise chunk[1:] is sent as is.
 */
import fc from 'fast-check';
import { DtlsServer, type DtlsMode } from '../../../src/dtls/server';
import { encodeMessage, HsType } from '../../../src/dtls/handshake';
import { parseRecords, recordHeader, RECORD_HEADER } from '../../../src/dtls/record';
import { prf, Transcript } from '../../../src/dtls/prf';
import { deriveKeys, RecordProtection } from '../../../src/dtls/protection';
import { DTLS0_9, DTLS1_2, prfHashFor, suiteByName, SUITES, type CipherSuite } from '../../../src/dtls/suites';
import { clientHelloDatagram, hsHeader, recHeader } from '../dtls-gen';
import { bytesOf, framed, mix, unframe } from '../gen';
import { check, type FuzzTarget } from '../target';

const SESSION_ID = Buffer.alloc(32, 0x5a);
const MASTER = Buffer.alloc(48, 0x3c);
const PSK = Buffer.alloc(32, 0x11);
const LEGACY: Array<[number, CipherSuite]> = [
  [DTLS1_2, suiteByName('AES256-GCM-SHA384')!],
  [DTLS1_2, suiteByName('OC-DTLS1_2-AES128-GCM')!],
  [DTLS0_9, suiteByName('AES128-SHA')!],
];

function modeOf(sel: number): DtlsMode {
  if (sel === 0) return { kind: 'psk', psk: PSK, suites: SUITES.filter((s) => s.psk) };
  const [version, suite] = LEGACY[sel - 1]!;
  return { kind: 'resume', sessionId: SESSION_ID, masterSecret: MASTER, suite, version };
}

/** openconnect's side of the abbreviated handshake; returns the client's write protection. */
function resumeHandshake(server: DtlsServer, sent: Buffer[], version: number, suite: CipherSuite): RecordProtection | undefined {
  const hash = prfHashFor(version, suite);
  const transcript = new Transcript();
  const add = (type: number, seq: number, body: Buffer) => transcript.add(version === DTLS0_9 ? body : encodeMessage(type, seq, body));
  const clientRandom = Buffer.alloc(32, 0x42);
  // cookie length 0, one suite, null compression
  const chBody = Buffer.concat([Buffer.from([version >> 8, version & 0xff]), clientRandom, Buffer.from([32]), SESSION_ID,
    Buffer.from([0, 0, 2, suite.id >> 8, suite.id & 0xff, 1, 0])]);
  add(HsType.ClientHello, 0, chBody);
  const ch = encodeMessage(HsType.ClientHello, 0, chBody);
  server.handleDatagram(Buffer.concat([recordHeader(22, version, 0, 0, ch.length), ch]));
  const flight = sent.length ? parseRecords(sent.shift()!).records : [];
  if (flight.length !== 3) return undefined;
  const sh = flight[0]!.fragment;
  const serverRandom = sh.subarray(12 + 2, 12 + 34);
  add(HsType.ServerHello, 0, sh.subarray(12));
  const keys = deriveKeys(suite, version, hash, MASTER, clientRandom, serverRandom);
  const fromServer = new RecordProtection(suite, keys.server);
  const toServer = new RecordProtection(suite, keys.client);
  const finRec = flight[2]!;
  const fin = fromServer.decrypt(finRec.type, finRec.version, finRec.epoch, finRec.seq, Buffer.from(finRec.fragment));
  if (!fin) return undefined;
  add(HsType.Finished, fin.readUInt16BE(4), fin.subarray(12));
  const verify = prf(hash, MASTER, 'client finished', transcript.digest(hash), 12);
  const ccsBody = version === DTLS0_9 ? Buffer.from([1, 0, 1]) : Buffer.from([1]);
  const finMsg = encodeMessage(HsType.Finished, version === DTLS0_9 ? 2 : 1, verify);
  const encFin = toServer.encrypt(22, version, 1, 0, [finMsg]);
  server.handleDatagram(Buffer.concat([recordHeader(20, version, 0, 1, ccsBody.length), ccsBody, recordHeader(22, version, 1, 0, encFin.length), encFin]));
  return server.isEstablished ? toServer : undefined;
}

function checkRecords(d: Buffer): void {
  const { records, malformed } = parseRecords(d);
  let covered = 0;
  for (const r of records) {
    check(r.fragment.byteOffset >= d.byteOffset && r.fragment.byteOffset + r.fragment.length <= d.byteOffset + d.length, 'record inside its datagram');
    covered += RECORD_HEADER + r.fragment.length;
  }
  check(malformed ? covered < d.length : covered === d.length, 'records account for the datagram');
}

export function fuzz(input: Buffer): void {
  if (input.length === 0) return;
  const sel = input[0]! & 3;
  const mode = modeOf(sel);
  const sent: Buffer[] = [];
  const server = new DtlsServer(mode, { send: (d) => { if (sent.length < 64) sent.push(d); }, established: () => {}, data: () => {}, closed: () => {} });
  try {
    let toServer: RecordProtection | undefined;
    if (sel !== 0 && input[0]! & 4) {
      const [version, suite] = LEGACY[sel - 1]!;
      toServer = resumeHandshake(server, sent, version, suite);
      check(toServer !== undefined, 'the legacy handshake completes');
    }
    const version = sel === 0 ? DTLS1_2 : LEGACY[sel - 1]![0];
    for (const chunk of unframe(input.subarray(1)).slice(0, 64)) {
      let d = chunk.subarray(1);
      if (toServer && chunk.length >= 4 && chunk[0]! & 1) {
        const type = chunk[1]!;
        const seq = chunk.readUInt16BE(2);
        const f = toServer.encrypt(type, version, 1, seq, [chunk.subarray(4)]);
        d = Buffer.concat([recordHeader(type, version, 1, seq, f.length), f]);
      }
      checkRecords(d);
      // the server decrypts in place: give it its own copy, as the socket would
      server.handleDatagram(Buffer.from(d));
    }
  } finally {
    server.close('fuzz input done', false);
  }
}

// ---------- inputs ----------

const appData = fc.tuple(fc.constantFrom(23, 23, 21, 22, 20, 24, 0), fc.integer({ min: 0, max: 0xffff }), bytesOf(0, 64))
  .map(([type, seq, p]) => { const h = Buffer.alloc(4); h[0] = 1; h[1] = type; h.writeUInt16BE(seq, 2); return Buffer.concat([h, p]); });
const rawRecord = fc.tuple(fc.constantFrom(20, 21, 22, 23, 19, 26), fc.constantFrom(0, 1, 2), fc.integer({ min: 0, max: 100 }), bytesOf(0, 48))
  .map(([type, epoch, seq, p]) => Buffer.concat([Buffer.from([0]), recHeader(type, 0xfefd, epoch, seq, p.length), p]));
const fragment = fc.tuple(fc.constantFrom(1, 16, 20, 0, 3), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), bytesOf(0, 40))
  .map(([type, seq, len, off, p]) => {
    const hs = Buffer.concat([hsHeader(type, len, seq, off, p.length), p]);
    return Buffer.concat([Buffer.from([0]), recHeader(22, 0xfefd, 0, seq, hs.length), hs]);
  });
const chunk = fc.oneof(
  clientHelloDatagram.map((d) => Buffer.concat([Buffer.from([0]), d])),
  appData, rawRecord, fragment,
  bytesOf(0, 80),
);
const script = fc.tuple(fc.integer({ min: 0, max: 7 }), fc.array(chunk, { maxLength: 10 }))
  .map(([head, chunks]) => Buffer.concat([Buffer.from([head]), framed(chunks)]));

export const target: FuzzTarget = {
  name: 'dtls',
  surface: 'datagrams on a session\'s UDP flow: records, handshake fragments, ClientHellos, protected records after a real handshake',
  sources: ['dtls/record.js', 'dtls/handshake.js', 'dtls/server.js', 'dtls/protection.js', 'dtls/replay.js'],
  fuzz,
  inputs: mix(script, 1500),
};
