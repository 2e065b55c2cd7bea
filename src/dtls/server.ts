import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  EXT_RENEGOTIATION_INFO, HandshakeError, HsType, Reassembler, SCSV_RENEGOTIATION, VERIFY_DATA_LEN,
  encodeMessage, parseClientHello, serverHelloBody, type ClientHello, type HandshakeMessage,
} from './handshake';
import { prf, Transcript } from './prf';
import { deriveKeys, RecordProtection } from './protection';
import { ContentType, RECORD_HEADER, parseRecords, recordHeader, type DtlsRecord } from './record';
import { ReplayWindow } from './replay';
import { DTLS0_9, DTLS1_2, prfHashFor, versionName, type CipherSuite } from './suites';

/**
 * How this session's DTLS is keyed:
 * - psk: openconnect's PSK-NEGOTIATE; a full PSK handshake with the key exported from the
 *   TLS session (label EXPORTER-openconnect-psk).
 * - resume: the legacy AnyConnect way; the client "resumes" a session that never existed,
 *   with the session id the server gave in X-DTLS-Session-ID and the master secret the
 *   client sent in X-DTLS-Master-Secret.
 */
export type DtlsMode =
  | { kind: 'psk'; psk: Buffer; suites: CipherSuite[] }
  | { kind: 'resume'; sessionId: Buffer; masterSecret: Buffer; suite: CipherSuite; version: number };

export interface DtlsEstablished { version: string; suite: CipherSuite; description: string }

export interface DtlsServerHooks {
  send(datagram: Buffer): void;
  established(info: DtlsEstablished): void;
  data(plaintext: Buffer): void;
  closed(reason: string): void;
}

/** What was dropped and why; a session survives all of these. */
export interface DtlsCounters {
  malformed: number; replayed: number; badRecord: number; wrongEpoch: number; handshakeErrors: number; retransmits: number;
}

type State = 'hello' | 'key-exchange' | 'finished' | 'established' | 'closed';

const enum Alert { CloseNotify = 0, UnexpectedMessage = 10, HandshakeFailure = 40, DecryptError = 51, IllegalParameter = 47 }

const RETRANSMIT_MS = 1000;
const MAX_RETRANSMITS = 4;
const HANDSHAKE_TIMEOUT_MS = 30_000;

export class DtlsServer {
  readonly counters: DtlsCounters = { malformed: 0, replayed: 0, badRecord: 0, wrongEpoch: 0, handshakeErrors: 0, retransmits: 0 };
  private state: State = 'hello';
  private version = DTLS1_2;
  private suite?: CipherSuite;
  private clientRandom?: Buffer;
  private serverRandom = randomBytes(32);
  private master?: Buffer;
  private transcript = new Transcript();
  private reassembler = new Reassembler();
  private nextClientSeq = 0;
  private nextServerSeq = 0;
  private readonly writeSeq = [0, 0];
  private readonly replay = [new ReplayWindow(), new ReplayWindow()];
  private readProt?: RecordProtection;
  private writeProt?: RecordProtection;
  private pendingRead?: RecordProtection;
  private readEpoch1 = false;
  private lastFlight: Buffer[] = [];
  private retransmitTimer?: NodeJS.Timeout;
  private retransmits = 0;
  private handshakeTimer?: NodeJS.Timeout;
  private queued = new Map<number, HandshakeMessage>();
  private badFinished = 0;

  constructor(private readonly mode: DtlsMode, private readonly hooks: DtlsServerHooks) {
    this.armHandshakeTimer();
  }

  private armHandshakeTimer(): void {
    if (this.handshakeTimer) return;
    this.handshakeTimer = setTimeout(() => this.close('DTLS handshake timed out'), HANDSHAKE_TIMEOUT_MS);
    this.handshakeTimer.unref();
  }

  get isEstablished(): boolean { return this.state === 'established'; }
  /** Read through a method so TypeScript does not narrow it away across callbacks that close. */
  private get closed(): boolean { return this.state === 'closed'; }
  get negotiatedSuite(): CipherSuite | undefined { return this.suite; }

  /** One datagram from the client; never throws. */
  handleDatagram(datagram: Buffer): void {
    if (this.state === 'closed') return;
    if (this.state === 'established' && this.dataRecord(datagram)) return;
    const { records, malformed } = parseRecords(datagram);
    if (malformed) this.counters.malformed++;
    for (const r of records) {
      this.handleRecord(r);
      if (this.closed) return;
    }
  }

  /**
   * One protected application-data datagram with the given plaintext parts (the tunnel's
   * one-byte header and the packet), or null before the handshake completes.
   */
  seal(parts: Buffer[]): Buffer | null {
    if (this.state !== 'established' || !this.writeProt) return null;
    return this.record(ContentType.ApplicationData, 1, parts);
  }

  /**
   * Many application-data records at once, each `prefix + packet` (the data path): see
   * RecordProtection.sealSpans. Returns the bytes written to out, 0 before the handshake
   * completes.
   */
  sealSpans(prefix: Buffer, src: Buffer, spans: Uint32Array, count: number, out: Buffer, outLengths: Uint32Array): number {
    if (this.state !== 'established' || !this.writeProt) return 0;
    const first = this.writeSeq[1];
    const n = this.writeProt.sealSpans(ContentType.ApplicationData, this.version, 1, first, prefix, src, spans, count, out, outLengths);
    this.writeSeq[1] += count;
    return n;
  }

  close(reason: string, alert = true): void {
    if (this.state === 'closed') return;
    if (alert && this.writeProt && this.state === 'established') this.sendAlert(1, Alert.CloseNotify);
    this.state = 'closed';
    this.clearTimers();
    this.hooks.closed(reason);
  }

  // ---------- records ----------

  /**
   * The data path's datagram, one application-data record of epoch 1 and nothing else,
   * opened without parseRecords' objects (handleRecord does the same for it, slower).
   * False when the datagram has any other shape.
   */
  private dataRecord(d: Buffer): boolean {
    if (d.length < RECORD_HEADER || d[0] !== ContentType.ApplicationData || d[3] !== 0 || d[4] !== 1) return false;
    if (((d[11] << 8) | d[12]) !== d.length - RECORD_HEADER || !this.readProt || !this.readEpoch1) return false;
    this.protectedRecord(this.readProt, ContentType.ApplicationData, (d[1] << 8) | d[2], d.readUIntBE(5, 6), d.subarray(RECORD_HEADER));
    return true;
  }

  private handleRecord(r: DtlsRecord): void {
    if (r.epoch === 0) {
      if (r.type === ContentType.Handshake) return this.handleHandshakeRecord(r.fragment, 0);
      if (r.type === ContentType.ChangeCipherSpec) return this.handleCcs(r.fragment);
      if (r.type === ContentType.Alert) return this.handleAlert(r.fragment, false);
      this.counters.wrongEpoch++;
      return;
    }
    if (r.epoch !== 1 || !this.readEpoch1 || !this.readProt) {
      this.counters.wrongEpoch++;
      return;
    }
    this.protectedRecord(this.readProt, r.type, r.version, r.seq, r.fragment);
  }

  /** A record of epoch 1: replay check, then opened and handled by its type. */
  private protectedRecord(prot: RecordProtection, type: number, version: number, seq: number, fragment: Buffer): void {
    const window = this.replay[1];
    if (!window.check(seq)) {
      this.counters.replayed++;
      return;
    }
    const plain = prot.decrypt(type, version, 1, seq, fragment);
    if (!plain) {
      this.counters.badRecord++;
      // During the handshake the only protected record is the client's Finished: if it keeps
      // failing, the two sides derived different keys (a wrong PSK or master secret).
      if (this.state === 'finished' && ++this.badFinished >= 2) this.fail(Alert.DecryptError, 'client Finished does not verify (wrong key?)');
      return;
    }
    window.mark(seq);
    if (type === ContentType.ApplicationData) {
      if (this.state === 'established') this.hooks.data(plain);
      return;
    }
    if (type === ContentType.Handshake) return this.handleHandshakeRecord(plain, 1);
    if (type === ContentType.Alert) return this.handleAlert(plain, true);
    this.counters.wrongEpoch++;
  }

  private handleAlert(body: Buffer, authenticated: boolean): void {
    // An unauthenticated alert could be forged by anyone who sees the flow: after the
    // handshake only protected alerts count.
    if (!authenticated && this.state === 'established') return;
    if (body.length >= 2 && (body[0] === 2 || body[1] === Alert.CloseNotify)) {
      this.close(body[1] === Alert.CloseNotify ? 'client closed DTLS' : `client sent alert ${body[1]}`, false);
    }
  }

  private handleCcs(body: Buffer): void {
    if (body.length < 1 || body[0] !== 1) { this.counters.handshakeErrors++; return; }
    if (this.state !== 'finished' || !this.pendingRead) return; // early or duplicate: the client will resend
    // DTLS 0.9's ChangeCipherSpec uses up a handshake sequence number of its own.
    if (this.version === DTLS0_9 && body.length >= 3) this.nextClientSeq = body.readUInt16BE(1) + 1;
    this.readProt = this.pendingRead;
    this.readEpoch1 = true;
  }

  private handleHandshakeRecord(fragment: Buffer, epoch: number): void {
    let msgs: HandshakeMessage[];
    try {
      msgs = this.reassembler.push(fragment);
    } catch (err) {
      if (!(err instanceof HandshakeError)) throw err;
      this.counters.handshakeErrors++;
      return;
    }
    for (const m of msgs) {
      if (this.closed) return;
      if (m.type === HsType.ClientHello && epoch === 0) { this.onClientHello(m); continue; }
      if (m.seq < this.nextClientSeq) {
        // The client repeated a flight: our answer was lost.
        this.retransmit();
        continue;
      }
      this.queued.set(m.seq, m);
      for (let next = this.queued.get(this.nextClientSeq); next; next = this.queued.get(this.nextClientSeq)) {
        this.queued.delete(this.nextClientSeq);
        this.nextClientSeq++;
        this.onMessage(next, epoch);
        if (this.closed) return;
      }
    }
  }

  private onMessage(m: HandshakeMessage, epoch: number): void {
    if (m.type === HsType.ClientKeyExchange && this.state === 'key-exchange' && epoch === 0) return this.onClientKeyExchange(m);
    if (m.type === HsType.Finished && this.state === 'finished' && epoch === 1) return this.onFinished(m);
    this.counters.handshakeErrors++;
  }

  // ---------- handshake ----------

  private onClientHello(m: HandshakeMessage): void {
    let hello: ClientHello;
    try {
      hello = parseClientHello(m.body);
    } catch (err) {
      if (!(err instanceof HandshakeError)) throw err;
      this.counters.handshakeErrors++;
      return;
    }
    if (this.clientRandom) {
      if (this.clientRandom.equals(hello.random)) {
        if (this.state !== 'established') this.retransmit();
        return;
      }
      // A new handshake on the same flow (the client restarted DTLS): start over.
      this.restart();
    }
    if (m.seq !== 0) { this.counters.handshakeErrors++; return; }
    this.nextClientSeq = 1;
    this.clientRandom = hello.random;
    const secureRenegotiation = hello.suites.includes(SCSV_RENEGOTIATION) || hello.extensions.has(EXT_RENEGOTIATION_INFO);

    if (this.mode.kind === 'psk') {
      // DTLS versions count down: 0xfefd (1.2) is "above" 0xfeff (1.0).
      if (hello.version > DTLS1_2) return this.fail(Alert.HandshakeFailure, `client offers only ${versionName(hello.version)}`);
      const suite = this.mode.suites.find((s) => hello.suites.includes(s.id));
      if (!suite) return this.fail(Alert.HandshakeFailure, 'no PSK cipher suite in common');
      this.version = DTLS1_2;
      this.suite = suite;
      this.addToTranscript(HsType.ClientHello, 0, m.body);
      const sh = this.handshake(HsType.ServerHello, serverHelloBody(this.version, this.serverRandom, randomBytes(32), suite.id, secureRenegotiation));
      const done = this.handshake(HsType.ServerHelloDone, Buffer.alloc(0));
      this.state = 'key-exchange';
      this.sendFlight([Buffer.concat([sh, done])]);
      return;
    }

    const r = this.mode;
    if (!hello.sessionId.equals(r.sessionId)) return this.fail(Alert.HandshakeFailure, 'ClientHello does not resume our session id');
    if (!hello.suites.includes(r.suite.id)) return this.fail(Alert.HandshakeFailure, `client does not offer ${r.suite.name}`);
    if (hello.version !== r.version) return this.fail(Alert.HandshakeFailure, `client offers ${versionName(hello.version)}, the session is ${versionName(r.version)}`);
    this.version = r.version;
    this.suite = r.suite;
    this.master = r.masterSecret;
    this.addToTranscript(HsType.ClientHello, 0, m.body);
    const sh = this.handshake(HsType.ServerHello, serverHelloBody(this.version, this.serverRandom, r.sessionId, r.suite.id, secureRenegotiation));
    this.deriveAndArm();
    const ccs = this.ccsRecord();
    const fin = this.finishedRecord('server finished');
    this.state = 'finished';
    this.sendFlight([Buffer.concat([sh, ccs, fin])]);
  }

  private onClientKeyExchange(m: HandshakeMessage): void {
    if (this.mode.kind !== 'psk') return;
    if (m.body.length < 2 || m.body.readUInt16BE(0) + 2 !== m.body.length) {
      return this.fail(Alert.IllegalParameter, 'malformed ClientKeyExchange');
    }
    this.addToTranscript(m.type, m.seq, m.body);
    const psk = this.mode.psk;
    const zeros = Buffer.alloc(psk.length);
    const len = Buffer.from([psk.length >> 8, psk.length & 0xff]);
    const pms = Buffer.concat([len, zeros, len, psk]);
    this.master = prf(prfHashFor(this.version, this.suite!), pms, 'master secret', Buffer.concat([this.clientRandom!, this.serverRandom]), 48);
    this.deriveAndArm();
    this.state = 'finished';
    this.clearRetransmit();
  }

  private onFinished(m: HandshakeMessage): void {
    const expected = this.verifyData('client finished');
    if (m.body.length !== VERIFY_DATA_LEN || !timingSafeEqual(m.body, expected)) {
      return this.fail(Alert.DecryptError, 'client Finished does not verify (wrong key?)');
    }
    this.addToTranscript(m.type, m.seq, m.body);
    if (this.mode.kind === 'psk') {
      const ccs = this.ccsRecord();
      const fin = this.finishedRecord('server finished');
      this.lastFlight = [Buffer.concat([ccs, fin])];
      this.hooks.send(this.lastFlight[0]);
    }
    this.clearTimers();
    this.state = 'established';
    const suite = this.suite!;
    const kx = this.mode.kind === 'psk' ? 'PSK' : 'RSA';
    this.hooks.established({
      version: versionName(this.version),
      suite,
      description: `(${versionName(this.version)})-(${kx})-(${suite.cipherName})`,
    });
  }

  // ---------- pieces ----------

  private deriveAndArm(): void {
    const suite = this.suite!;
    const keys = deriveKeys(suite, this.version, prfHashFor(this.version, suite), this.master!, this.clientRandom!, this.serverRandom);
    this.pendingRead = new RecordProtection(suite, keys.client);
    this.writeProt = new RecordProtection(suite, keys.server);
  }

  private verifyData(label: string): Buffer {
    const hash = prfHashFor(this.version, this.suite!);
    return prf(hash, this.master!, label, this.transcript.digest(hash), VERIFY_DATA_LEN);
  }

  /** Cisco's DTLS 0.9 hashes handshake bodies without the DTLS header; DTLS 1.x hashes both. */
  private addToTranscript(type: number, seq: number, body: Buffer): void {
    this.transcript.add(this.version === DTLS0_9 ? body : encodeMessage(type, seq, body));
  }

  /** A handshake message from us, in its own epoch-0 record, added to the transcript. */
  private handshake(type: number, body: Buffer): Buffer {
    const seq = this.nextServerSeq++;
    this.addToTranscript(type, seq, body);
    return this.record(ContentType.Handshake, 0, [encodeMessage(type, seq, body)]);
  }

  private ccsRecord(): Buffer {
    // DTLS 0.9's ChangeCipherSpec carries (and uses up) a handshake sequence number.
    const body = this.version === DTLS0_9
      ? Buffer.from([1, this.nextServerSeq >> 8, this.nextServerSeq++ & 0xff])
      : Buffer.from([1]);
    return this.record(ContentType.ChangeCipherSpec, 0, [body]);
  }

  private finishedRecord(label: string): Buffer {
    const verify = this.verifyData(label);
    const seq = this.nextServerSeq++;
    this.addToTranscript(HsType.Finished, seq, verify);
    return this.record(ContentType.Handshake, 1, [encodeMessage(HsType.Finished, seq, verify)]);
  }

  private record(type: number, epoch: number, parts: Buffer[]): Buffer {
    const seq = this.writeSeq[epoch]++;
    let fragment: Buffer;
    if (epoch === 0) fragment = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    else fragment = this.writeProt!.encrypt(type, this.version, epoch, seq, parts);
    return Buffer.concat([recordHeader(type, this.version, epoch, seq, fragment.length), fragment]);
  }

  private sendAlert(level: number, desc: number): void {
    const epoch = this.writeProt && this.state === 'established' ? 1 : 0;
    try {
      this.hooks.send(this.record(ContentType.Alert, epoch, [Buffer.from([level, desc])]));
    } catch { /* closing anyway */ }
  }

  private fail(alert: number, reason: string): void {
    this.counters.handshakeErrors++;
    this.sendAlert(2, alert);
    this.close(reason, false);
  }

  private sendFlight(datagrams: Buffer[]): void {
    this.lastFlight = datagrams;
    for (const d of datagrams) this.hooks.send(d);
    this.retransmits = 0;
    this.armRetransmit();
  }

  private retransmit(): void {
    if (!this.lastFlight.length) return;
    this.counters.retransmits++;
    for (const d of this.lastFlight) this.hooks.send(d);
  }

  private armRetransmit(): void {
    this.clearRetransmit();
    if (this.retransmits >= MAX_RETRANSMITS) return;
    this.retransmitTimer = setTimeout(() => {
      if (this.state === 'established' || this.state === 'closed') return;
      this.retransmits++;
      this.retransmit();
      this.armRetransmit();
    }, RETRANSMIT_MS << this.retransmits);
    this.retransmitTimer.unref();
  }

  private clearRetransmit(): void {
    if (this.retransmitTimer) clearTimeout(this.retransmitTimer);
    this.retransmitTimer = undefined;
  }

  private clearTimers(): void {
    this.clearRetransmit();
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }

  private restart(): void {
    this.clearRetransmit();
    this.state = 'hello';
    this.suite = undefined;
    this.clientRandom = undefined;
    this.serverRandom = randomBytes(32);
    this.master = undefined;
    this.transcript = new Transcript();
    this.reassembler = new Reassembler();
    this.queued.clear();
    this.badFinished = 0;
    this.nextClientSeq = 0;
    this.nextServerSeq = 0;
    this.writeSeq[0] = 0;
    this.writeSeq[1] = 0;
    this.replay[1] = new ReplayWindow();
    this.readProt = this.writeProt = this.pendingRead = undefined;
    this.readEpoch1 = false;
    this.lastFlight = [];
    this.armHandshakeTimer();
  }
}

