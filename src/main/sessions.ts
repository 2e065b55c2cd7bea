import type { Lease } from './leases';

export interface MainSession {
  sessionId: number;
  workerId: number;
  connId: number;
  cookie: string;
  sid: string;
  username: string;
  groupname: string;
  remoteAddr: string;
  lease: Lease;
  tunName: string;
  /** main keeps its own tun fd so the device goes away when main says, whatever the worker does. */
  tunFd: number;
  startedAt: number;
  /** hex id the client's DTLS ClientHello carries (X-DTLS-App-ID / X-DTLS-Session-ID) */
  dtlsId: string;
  /** e.g. (DTLS1.2)-(PSK)-(AES-256-GCM), once DTLS is up */
  dtlsCipher?: string;
}

export class SessionTable {
  private readonly byId = new Map<number, MainSession>();
  private readonly byDtlsId = new Map<string, MainSession>();
  private nextId = 1;

  newId(): number { return this.nextId++; }
  add(s: MainSession): void {
    this.byId.set(s.sessionId, s);
    this.byDtlsId.set(s.dtlsId, s);
  }
  byDtls(id: string): MainSession | undefined { return this.byDtlsId.get(id); }
  get(id: number): MainSession | undefined { return this.byId.get(id); }
  remove(id: number): MainSession | undefined {
    const s = this.byId.get(id);
    this.byId.delete(id);
    if (s) this.byDtlsId.delete(s.dtlsId);
    return s;
  }
  ofWorker(workerId: number): MainSession[] { return [...this.byId.values()].filter((s) => s.workerId === workerId); }
  get size(): number { return this.byId.size; }
  all(): IterableIterator<MainSession> { return this.byId.values(); }
}
