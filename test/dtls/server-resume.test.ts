/**
 * The legacy resumption handshake driven by a minimal client written here from the spec
 * (the client side openconnect would play), then hostile records against the live session.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { DtlsServer, type DtlsEstablished } from '../../src/dtls/server';
import { encodeMessage, HsType } from '../../src/dtls/handshake';
import { parseRecords, recordHeader } from '../../src/dtls/record';
import { prf, Transcript } from '../../src/dtls/prf';
import { deriveKeys, RecordProtection } from '../../src/dtls/protection';
import { DTLS0_9, DTLS1_2, prfHashFor, suiteByName } from '../../src/dtls/suites';

function setup(version: number, suiteName: string) {
  const suite = suiteByName(suiteName)!;
  const sessionId = randomBytes(32);
  const master = randomBytes(48);
  const sent: Buffer[] = [];
  const data: Buffer[] = [];
  let established: DtlsEstablished | undefined;
  let closed: string | undefined;
  const server = new DtlsServer({ kind: 'resume', sessionId, masterSecret: master, suite, version }, {
    send: (d) => sent.push(d),
    established: (i) => { established = i; },
    data: (d) => data.push(d),
    closed: (r) => { closed = r; },
  });
  return { suite, sessionId, master, sent, data, server, state: () => ({ established, closed }) };
}

/** The client half of the abbreviated handshake, from RFC 5246/6347 (and DTLS 0.9's quirks). */
function handshake(version: number, ctx: ReturnType<typeof setup>) {
  const hash = prfHashFor(version, ctx.suite);
  const transcript = new Transcript();
  const add = (type: number, seq: number, body: Buffer) => transcript.add(version === DTLS0_9 ? body : encodeMessage(type, seq, body));
  const clientRandom = randomBytes(32);
  const chBody = Buffer.concat([Buffer.from([version >> 8, version & 0xff]), clientRandom, Buffer.from([32]), ctx.sessionId,
    Buffer.from([0, 0, 2, ctx.suite.id >> 8, ctx.suite.id & 0xff, 1, 0])]);
  add(HsType.ClientHello, 0, chBody);
  const ch = encodeMessage(HsType.ClientHello, 0, chBody);
  ctx.server.handleDatagram(Buffer.concat([recordHeader(22, version, 0, 0, ch.length), ch]));
  const flight = parseRecords(ctx.sent.shift()!).records;
  const sh = flight[0].fragment;
  const serverRandom = sh.subarray(12 + 2, 12 + 34);
  add(HsType.ServerHello, 0, sh.subarray(12));
  const keys = deriveKeys(ctx.suite, version, hash, ctx.master, clientRandom, serverRandom);
  const fromServer = new RecordProtection(ctx.suite, keys.server);
  const toServer = new RecordProtection(ctx.suite, keys.client);
  const finRec = flight[2];
  const fin = fromServer.decrypt(finRec.type, finRec.version, finRec.epoch, finRec.seq, finRec.fragment)!;
  const expectServer = prf(hash, ctx.master, 'server finished', transcript.digest(hash), 12);
  const serverFinishedOk = fin.subarray(12).equals(expectServer);
  add(HsType.Finished, fin.readUInt16BE(4), fin.subarray(12));
  const clientSeq = version === DTLS0_9 ? 2 : 1;
  const verify = prf(hash, ctx.master, 'client finished', transcript.digest(hash), 12);
  const ccsBody = version === DTLS0_9 ? Buffer.from([1, 0, 1]) : Buffer.from([1]);
  const finMsg = encodeMessage(HsType.Finished, clientSeq, verify);
  const encFin = toServer.encrypt(22, version, 1, 0, [finMsg]);
  ctx.server.handleDatagram(Buffer.concat([
    recordHeader(20, version, 0, 1, ccsBody.length), ccsBody,
    recordHeader(22, version, 1, 0, encFin.length), encFin,
  ]));
  let seq = 1;
  const appRecord = (payload: Buffer, s = seq++, epoch = 1) => {
    const f = toServer.encrypt(23, version, epoch, s, [payload]);
    return Buffer.concat([recordHeader(23, version, epoch, s, f.length), f]);
  };
  return { serverFinishedOk, appRecord, fromServer, flightRecords: flight };
}

for (const [version, suite] of [[DTLS1_2, 'AES256-GCM-SHA384'], [DTLS1_2, 'OC-DTLS1_2-AES128-GCM'], [DTLS0_9, 'AES128-SHA'], [DTLS0_9, 'AES256-SHA']] as const) {
  t.test(`resumption ${suite} (${version === DTLS0_9 ? 'DTLS 0.9' : 'DTLS 1.2'}) and hostile records`, async (t) => {
    const ctx = setup(version, suite);
    const flight = handshake(version, ctx);
    t.equal(flight.flightRecords.length, 3, 'ServerHello, ChangeCipherSpec, Finished in one flight');
    t.ok(flight.serverFinishedOk, 'the server Finished verifies');
    t.ok(ctx.state().established, 'established');
    t.equal(ctx.state().established!.suite.id, ctx.suite.id);

    const good = flight.appRecord(Buffer.from('\x00first'));
    ctx.server.handleDatagram(good);
    t.same(ctx.data.map(String), ['\x00first']);

    ctx.server.handleDatagram(good);
    t.equal(ctx.server.counters.replayed, 1, 'a replayed record is dropped and counted');

    const tampered = flight.appRecord(Buffer.from('\x00evil'));
    tampered[tampered.length - 3] ^= 0x40;
    ctx.server.handleDatagram(tampered);
    t.equal(ctx.server.counters.badRecord, 1, 'a forged record is dropped and counted');

    ctx.server.handleDatagram(flight.appRecord(Buffer.from('\x00wrong epoch'), 50, 2));
    t.equal(ctx.server.counters.wrongEpoch, 1, 'a record for an unknown epoch is dropped');

    ctx.server.handleDatagram(randomBytes(3));
    ctx.server.handleDatagram(Buffer.concat([flight.appRecord(Buffer.from('\x00ok')), randomBytes(5)]));
    t.ok(ctx.server.counters.malformed >= 2, 'truncated junk is counted');

    const late = flight.appRecord(Buffer.from('\x00late'), 100);
    const early = flight.appRecord(Buffer.from('\x00reordered'), 90);
    ctx.server.handleDatagram(late);
    ctx.server.handleDatagram(early);
    t.same(ctx.data.map(String), ['\x00first', '\x00ok', '\x00late', '\x00reordered'], 'the session survived; reordering within the window is fine');
    t.equal(ctx.state().closed, undefined, 'never closed');

    const out = ctx.server.seal([Buffer.from([0]), Buffer.from('to client')]);
    const rec = parseRecords(out!).records[0];
    t.equal(String(flight.fromServer.decrypt(rec.type, rec.version, rec.epoch, rec.seq, rec.fragment)), '\x00to client', 'data to the client');
    ctx.server.close('test over');
  });
}

t.test('a ClientHello that does not resume our session is refused', async (t) => {
  const ctx = setup(DTLS1_2, 'AES256-GCM-SHA384');
  const body = Buffer.concat([Buffer.from([0xfe, 0xfd]), randomBytes(32), Buffer.from([32]), randomBytes(32), Buffer.from([0, 0, 2, 0, 0x9d, 1, 0])]);
  const ch = encodeMessage(HsType.ClientHello, 0, body);
  ctx.server.handleDatagram(Buffer.concat([recordHeader(22, DTLS1_2, 0, 0, ch.length), ch]));
  t.match(ctx.state().closed, /does not resume our session id/);
  const alert = parseRecords(ctx.sent[0]).records[0];
  t.equal(alert.type, 21, 'with an alert');
});

t.test('duplicated and reordered ClientHello fragments; a repeated hello gets the flight again', async (t) => {
  const ctx = setup(DTLS1_2, 'AES256-GCM-SHA384');
  const body = Buffer.concat([Buffer.from([0xfe, 0xfd]), randomBytes(32), Buffer.from([32]), ctx.sessionId, Buffer.from([0, 0, 2, 0, 0x9d, 1, 0])]);
  const whole = encodeMessage(HsType.ClientHello, 0, body);
  const frag = (off: number, len: number, rseq: number) => {
    const h = Buffer.from(whole.subarray(0, 12));
    h.writeUIntBE(off, 6, 3);
    h.writeUIntBE(len, 9, 3);
    const f = Buffer.concat([h, body.subarray(off, off + len)]);
    return Buffer.concat([recordHeader(22, DTLS1_2, 0, rseq, f.length), f]);
  };
  ctx.server.handleDatagram(frag(40, body.length - 40, 0));
  ctx.server.handleDatagram(frag(40, body.length - 40, 1));
  t.equal(ctx.sent.length, 0, 'nothing until the hello is whole');
  ctx.server.handleDatagram(frag(0, 50, 2));
  t.equal(ctx.sent.length, 1, 'the flight once the hello is complete');
  ctx.server.handleDatagram(Buffer.concat([recordHeader(22, DTLS1_2, 0, 3, whole.length), whole]));
  t.equal(ctx.sent.length, 2, 'a retransmitted hello gets the same flight again');
  t.ok(ctx.sent[0].equals(ctx.sent[1]));
  ctx.server.close('test over');
});
