import { createServer, type IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { TLSSocket, connect, type SecureContext, type TLSSocketOptions } from 'node:tls';
import type { SessionParams } from '../ipc/messages';
import { authRequestXml, authSuccessXml, parseClientAuth } from './auth-xml';
import { connectedResponse } from './connect-headers';
import { chooseDtls } from './dtls-negotiation';
import { cookieValue, readBody } from './http-auth';
import { clientFamilies } from './ip-families';
import { clientHeaders } from './session-info';

/** Two in-memory streams wired back to back (node:stream has duplexPair only from Node 22). */
function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (i: number) => new Duplex({
    read() {},
    write(chunk, _enc, cb) { ends[1 - i].push(chunk); cb(); },
    final(cb) { ends[1 - i].push(null); cb(); },
  });
  ends.push(make(0), make(1));
  return [ends[0], ends[1]];
}

/**
 * One TLS handshake with itself, in memory, while the worker waits in the pre-started pool:
 * the first handshake of a fresh process pays for loading and compiling the TLS paths, and
 * that cost would otherwise land on the first client's connection time. `serverOptions`
 * are the ones clients' sockets get (requestCert), so the same paths are warmed.
 */
export function warmUpTls(secureContext: SecureContext, timeoutMs = 5000, serverOptions: TLSSocketOptions = {}): Promise<void> {
  return new Promise((resolve) => {
    const [a, b] = duplexPair();
    const server = new TLSSocket(a, { ...serverOptions, isServer: true, secureContext });
    const client = connect({ socket: b, rejectUnauthorized: false });
    const done = () => {
      clearTimeout(timer);
      client.destroy();
      server.destroy();
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    client.once('secureConnect', done);
    client.once('error', done);
    server.once('error', done);
  });
}

const CLIENT_INIT = '<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="init" aggregate-auth-version="2">'
  + '<version who="vpn">v9.01</version><device-id>linux-64</device-id><group-access>https://vpn.invalid/</group-access></config-auth>';
const CLIENT_REPLY = '<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="auth-reply" aggregate-auth-version="2">'
  + '<version who="vpn">v9.01</version><device-id>linux-64</device-id><auth><username>u</username><password>p</password></auth></config-auth>';
const PROMPTS = [{ type: 'text', name: 'username', label: 'Username:' }, { type: 'password', name: 'password', label: 'Password:' }] as const;
const PARAMS: SessionParams = {
  sessionId: 0, username: 'u', groupname: '', tunName: 'vpns0', dns: ['192.0.2.53'], routes: [{ network: '192.0.2.0', netmask: '255.255.255.0', prefix: 24 }], noRoutes: [],
  ipv4: { local: '192.0.2.1', remote: '192.0.2.2', netmask: '255.255.255.0', network: '192.0.2.0', prefix: 24 },
  mtu: 1434, dpd: 90, mobileDpd: 1800, keepalive: 32400, idleTimeout: 0, sessionTimeout: 0, dtlsId: '00'.repeat(32),
};
const CONNECT_HEADERS = { 'x-dtls-ciphersuite': 'PSK-NEGOTIATE:AES256-GCM-SHA384', 'x-cstp-address-type': 'IPv6,IPv4', 'x-cstp-base-mtu': '1500' };

/**
 * A login's HTTP and XML, and the answer to CONNECT, run in memory a dozen times while the
 * worker waits in the pool. V8 compiles a function well only after it has run a few times,
 * and a shared worker meets a login only now and then (clients take turns over the workers):
 * reading the client's XML and writing the first form took 4 ms the first time and 0.1 ms
 * from the tenth on. The requests go through a private HTTP server (Node's parser and
 * response code are the same for every server), never to sec-mod or main.
 */
export async function warmUpLogin(rounds = 12): Promise<void> {
  const server = createServer((req: IncomingMessage, res) => {
    void readBody(req, 65536).then((body) => {
      const msg = parseClientAuth(body);
      clientHeaders(req);
      cookieValue(req, 'webvpncontext');
      res.writeHead(200, { 'Content-Type': 'text/xml', 'Set-Cookie': 'webvpncontext=; Secure; HttpOnly' });
      res.end(msg.type === 'init' ? authRequestXml('Please enter your username and password.', [...PROMPTS]) : authSuccessXml());
    }, () => res.destroy());
  });
  const [ours, theirs] = duplexPair();
  server.emit('connection', ours);
  let answers = 0;
  let seen = '';
  let wake: (() => void) | undefined;
  theirs.on('data', (chunk: Buffer) => {
    seen += chunk.toString('latin1');
    for (let at = seen.indexOf('</config-auth>'); at >= 0; at = seen.indexOf('</config-auth>')) {
      seen = seen.slice(at + 14);
      answers++;
      wake?.();
    }
  });
  for (let i = 0; i < rounds; i++) {
    const body = i % 2 ? CLIENT_REPLY : CLIENT_INIT;
    // a lost answer costs a second at most, and holds nothing up once answered
    const answered = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000).unref();
      wake = () => { clearTimeout(timer); resolve(); };
    });
    theirs.write(`POST / HTTP/1.1\r\nHost: vpn.invalid\r\nUser-Agent: Open AnyConnect VPN Agent v9.01\r\nCookie: webvpncontext=x\r\n`
      + `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    if (answers <= i) await answered;
    const plan = chooseDtls(CONNECT_HEADERS, { psk: true, legacy: true });
    connectedResponse(PARAMS, 'warm-up', 1500, plan ? { plan, port: 443 } : undefined, clientFamilies(CONNECT_HEADERS));
  }
  theirs.destroy();
  ours.destroy();
}
