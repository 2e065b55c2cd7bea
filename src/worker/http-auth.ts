import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SecmodToWorker, WorkerConfig } from '../ipc/messages';
import type { Logger } from '../common/log';
import type { PeerProof } from '../ipc/peer-proof';
import { AuthXmlError, authFailXml, authRequestXml, authSuccessXml, parseClientAuth, parseFormAuth, type ClientAuthMessage } from './auth-xml';
import type { CertIdentity } from './client-cert';
import { profileManifestXml } from './user-profile';
import { groupFromUrl } from './group-url';
import { FirstFormCache, type FirstForm } from './first-form';

/** what one connection's logins left behind */
export interface LoginState {
  /** the cookie a login on this connection was given (the user-profile is served to it) */
  cookie?: string;
}

type AuthReply = SecmodToWorker['auth.reply'];

export interface SecmodAuthClient {
  init(req: {
    remoteAddr: string; proof: PeerProof; userAgent: string; username?: string; groupname?: string; groupFromUrl?: boolean; cert?: CertIdentity;
    answers?: Record<string, string>;
  }): Promise<AuthReply>;
  cont(req: { authId: string; answers: Record<string, string>; proof: PeerProof }): Promise<AuthReply>;
}

const CLEAR_CONTEXT = 'webvpncontext=; expires=Thu, 01 Jan 1970 22:00:00 GMT; path=/; Secure';

export class BodyTooLargeError extends Error { override name = 'BodyTooLargeError'; }

export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new BodyTooLargeError(`Content-Length ${declared} exceeds ${limit}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new BodyTooLargeError(`request body exceeds ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A message as an HTTP reason phrase: one line of printable ASCII. */
export function statusText(message: string): string {
  const text = message.replace(/[^\x20-\x7e]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 120);
  return text || 'Unauthorized';
}

export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The HTTP side of login: init -> form -> auth-reply -> cookie. The login state lives in
 * sec-mod; the browser-style `webvpncontext` cookie only carries sec-mod's opaque id.
 */
export class HttpAuth {
  private readonly firstForm = new FirstFormCache();

  constructor(
    private readonly secmod: SecmodAuthClient,
    private readonly config: WorkerConfig,
    private readonly log: Logger,
  ) {}

  /**
   * peer: main's proof of who this client is, passed on to sec-mod with every new login;
   * cert: what the TLS handshake verified of the client's certificate, if anything
   */
  async handle(req: IncomingMessage, res: ServerResponse, peer: PeerProof, cert?: CertIdentity, state: LoginState = {}): Promise<void> {
    const remoteAddr = peer.remoteAddr;
    res.setHeader('X-Transcend-Version', '1');
    if (req.method === 'GET' && (req.url === '/' || req.url?.startsWith('/?'))) {
      const known = cert ? undefined : this.firstForm.get();
      if (known) return this.sendFirstForm(res, known);
      return this.sendReply(res, this.firstForm.learn(await this.secmod.init({ remoteAddr, proof: peer, userAgent: String(req.headers['user-agent'] ?? ''), cert })), state, true);
    }
    const urlGroup = req.method === 'POST' ? groupFromUrl(req.url, this.config.selectGroupByUrl) : undefined;
    if (req.method !== 'POST' || !(req.url === '/' || req.url === '/auth' || req.url?.startsWith('/auth?') || urlGroup)) {
      res.writeHead(404, { 'Content-Type': 'text/plain', Connection: 'close' }).end('Not found\n');
      return;
    }
    const body = await readBody(req, this.config.maxBodyBytes);
    let msg: ClientAuthMessage;
    try {
      const ct = String(req.headers['content-type'] ?? '');
      msg = ct.includes('x-www-form-urlencoded') ? parseFormAuth(body) : parseClientAuth(body);
    } catch (err) {
      if (!(err instanceof AuthXmlError)) throw err;
      this.log.warn({ ip: remoteAddr, reason: err.message }, 'malformed auth request; closing the connection');
      res.writeHead(400, { 'Content-Type': 'text/plain', Connection: 'close' }).end('Bad request\n');
      return;
    }
    const authId = cookieValue(req, 'webvpncontext');
    if (msg.type === 'init' && !urlGroup && !msg.groupSelect && !cert) {
      const known = this.firstForm.get();
      if (known) return this.sendFirstForm(res, known);
    }
    if (msg.type === 'init' || !authId) {
      // answers without a login id: to a form this worker served itself (or a client that
      // answers before being asked); sec-mod begins the login and takes them at once
      const answers = msg.type !== 'init' && Object.keys(msg.answers).length ? msg.answers : undefined;
      const reply = await this.secmod.init({
        remoteAddr,
        proof: peer,
        userAgent: String(req.headers['user-agent'] ?? ''),
        // select-group-by-url: the URL's group wins over one in the request, as in ocserv
        groupname: urlGroup ?? msg.groupSelect,
        ...(urlGroup ? { groupFromUrl: true } : {}),
        cert,
        ...(answers ? { answers } : {}),
      });
      return this.sendReply(res, this.firstForm.learn(reply), state, !answers);
    }
    if (msg.type === 'logout') {
      res.writeHead(200, { 'Content-Type': 'text/xml' }).end(authFailXml('Logged out.'));
      return;
    }
    this.sendReply(res, await this.secmod.cont({ authId, answers: msg.answers, proof: peer }), state);
  }

  /**
   * The shared first form (src/worker/first-form.ts): no login exists yet, so no login id;
   * a stale one from an earlier attempt is cleared so the answers start a fresh login.
   */
  private sendFirstForm(res: ServerResponse, form: FirstForm): void {
    res.writeHead(200, { 'Content-Type': 'text/xml', 'Set-Cookie': CLEAR_CONTEXT });
    res.end(authRequestXml(form.message, form.prompts, undefined, this.config.preLoginBanner));
  }

  /** first: the answer to a new login, whose form carries the pre-login-banner */
  private sendReply(res: ServerResponse, reply: AuthReply, state: LoginState, first = false): void {
    switch (reply.status) {
      case 'continue':
        res.writeHead(200, {
          'Content-Type': 'text/xml',
          'Set-Cookie': `webvpncontext=${reply.authId}; Max-Age=${this.config.authTimeout}; Secure; HttpOnly`,
        });
        res.end(authRequestXml(reply.message, reply.prompts, reply.error, first ? this.config.preLoginBanner : undefined));
        return;
      case 'ok':
        res.writeHead(200, {
          'Content-Type': 'text/xml',
          'Set-Cookie': [
            CLEAR_CONTEXT,
            `webvpn=${reply.cookie}; Secure; HttpOnly`,
          ],
        });
        state.cookie = reply.cookie;
        res.end(authSuccessXml(this.config.banner, this.config.profile ? profileManifestXml(this.config.profile) : ''));
        return;
      case 'fail':
        // openconnect shows the status line of a 401, not its body: the reason goes there too, as ocserv does
        res.writeHead(401, statusText(reply.message), { 'Content-Type': 'text/xml', Connection: 'close' });
        res.end(authFailXml(reply.message));
        return;
    }
  }
}
