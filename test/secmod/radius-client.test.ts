/**
 * The RADIUS client and the radius auth backend against a real FreeRADIUS on loopback
 * (accept with attributes, reject, challenge/OTP, wrong secret, failover, accounting),
 * and against a raw UDP socket that answers with crafted bad replies: each must be
 * dropped with a log line while the request keeps waiting for the real answer.
 */
import t from 'tap';
import pino from 'pino';
import { createHash } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RadiusClient, RadiusUnreachableError, type RadiusReply } from '../../src/secmod/radius/client';
import { parseRadcliConfig } from '../../src/secmod/radius/radcli-config';
import { RadiusBackend, sessionAttributes } from '../../src/secmod/auth/radius';
import type { LoginRequest, Step } from '../../src/secmod/auth/backend';
import { freeUdpPort, startFreeradius, type FreeradiusHandle } from '../helpers/freeradius';

const radius = require('radius') as {
  decode(a: { packet: Buffer; secret: string }): { code: string; identifier: number; authenticator: Buffer; attributes: Record<string, unknown>; raw_attributes: [number, Buffer][] };
  encode(a: { code: string; secret: string; identifier: number; authenticator?: Buffer; attributes: unknown[]; add_message_authenticator?: boolean }): Buffer;
  encode_response(a: { packet: unknown; code: string; secret: string; attributes?: unknown[] }): Buffer;
};

const dir = mkdtempSync(join(tmpdir(), 'ocserv-ts-radius-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function captureLog() {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { log, text: () => lines.join('') };
}

const ALICE_REPLY: [string, string][] = [
  ['Framed-IP-Address', '198.19.0.77'],
  ['Framed-IP-Netmask', '255.255.255.255'],
  ['Class', 'OU=radgroup;OU=other;'],
  ['Class', 'second-class'],
  ['Session-Timeout', '3600'],
  ['Idle-Timeout', '600'],
  ['Acct-Interim-Interval', '60'],
  ['Framed-Route', '10.99.0.0/16 0.0.0.0 1'],
  ['Framed-Route', '10.98.1.7/24'],
  ['Framed-IPv6-Route', '2001:db8:99::/48 :: 1'],
  ['MS-Primary-DNS-Server', '198.19.0.53'],
  ['MS-Secondary-DNS-Server', '198.19.0.54'],
  ['DNS-Server-IPv6-Address', '2001:db8::53'],
  ['Framed-IPv6-Prefix', '2001:db8:1::/64'],
];

let fr: FreeradiusHandle;
t.before(async () => {
  fr = await startFreeradius({
    // FreeRADIUS drops any Access-Request of ours that lacks a valid Message-Authenticator
    requireMessageAuthenticator: true,
    users: [
      { name: 'alice', password: 'alice-pass', reply: ALICE_REPLY },
      { name: 'bob', reject: 'Bob is not allowed' },
      { name: 'carol', password: 'carol-pass', challenge: { message: 'Enter OTP', answer: '123456' }, reply: [['Framed-IP-Address', '198.19.0.99']] },
      { name: 'dave@corp', password: 'dave-pass', reply: [['Class', 'OU=corp;']] },
    ],
  });
});
t.teardown(() => fr?.stop());

const REQ: LoginRequest = { remoteAddr: '198.18.7.2', userAgent: 'Open AnyConnect VPN Agent v9.01' };

function backend(conf: string, params: Record<string, string> = {}) {
  const cap = captureLog();
  return { b: new RadiusBackend({ config: conf, ...params }, cap.log), log: cap.text };
}

async function login(b: RadiusBackend, answers: Record<string, string>[]): Promise<Step[]> {
  const conv = b.begin(REQ, undefined);
  const steps = [await conv.start()];
  for (const a of answers) steps.push(await conv.answer(a));
  return steps;
}

t.test('FreeRADIUS: Access-Accept and the session attributes ocserv honours', async (t) => {
  const conf = fr.writeRadcliConfig(join(dir, 'accept.conf'));
  const { b } = backend(conf, { groupconfig: 'true' });
  t.teardown(() => b.close());
  const [first, last] = await login(b, [{ username: 'alice', password: 'alice-pass' }]);
  t.equal(first!.kind, 'ask');
  t.same(first!.kind === 'ask' && first!.prompts.map((p) => [p.name, p.type]), [['username', 'text'], ['password', 'password']]);
  t.equal(last!.kind, 'ok');
  if (last!.kind !== 'ok') return;
  t.equal(last.username, 'alice');
  t.same(last.groups, ['radgroup', 'other'], 'groups from the Class "OU=radgroup;OU=other;"');
  t.same(last.attrs, {
    ipv4: '198.19.0.77',
    ipv6: '2001:db8:1::/64',
    routes: ['10.99.0.0/16', '10.98.1.0/24', '2001:db8:99::/48'],
    dns: ['198.19.0.53', '198.19.0.54', '2001:db8::53'],
    sessionTimeout: 3600,
    idleTimeout: 600,
    interimInterval: 60,
    radiusClass: [Buffer.from('OU=radgroup;OU=other;').toString('base64'), Buffer.from('second-class').toString('base64')],
  });

  const plain = backend(conf);
  t.teardown(() => plain.b.close());
  const [, noGroups] = await login(plain.b, [{ username: 'alice', password: 'alice-pass' }]);
  t.same(noGroups!.kind === 'ok' && noGroups!.groups, [], 'without groupconfig the Class names no group');
});

t.test('FreeRADIUS: Access-Reject and a wrong password may retry, with the Reply-Message', async (t) => {
  const { b } = backend(fr.writeRadcliConfig(join(dir, 'reject.conf')));
  t.teardown(() => b.close());
  const [, bob] = await login(b, [{ username: 'bob', password: 'whatever' }]);
  t.match(bob, { kind: 'fail', retry: true, message: 'Bob is not allowed', user: 'bob' });
  t.match(bob!.kind === 'fail' && bob!.reason, /Access-Reject from 127\.0\.0\.1:\d+: Bob is not allowed/);
  const [, wrong] = await login(b, [{ username: 'alice', password: 'not-it' }]);
  t.match(wrong, { kind: 'fail', retry: true });
  const [, noPassword] = await login(b, [{ username: 'alice', password: '' }]);
  t.match(noPassword, { kind: 'fail', retry: true, reason: /^Access-Reject/ }, 'an empty password is a well-formed request, refused');
  const [, empty] = await login(b, [{ username: ' ', password: 'x' }]);
  t.match(empty, { kind: 'fail', retry: true, reason: 'empty username' });
  const [, long] = await login(b, [{ username: 'alice', password: 'x'.repeat(129) }]);
  t.match(long, { kind: 'fail', retry: true, reason: /128 bytes/ });
});

t.test('FreeRADIUS: Access-Challenge becomes a form, the answer goes back with the State', async (t) => {
  const { b } = backend(fr.writeRadcliConfig(join(dir, 'challenge.conf')));
  t.teardown(() => b.close());
  const [, challenge, ok] = await login(b, [{ username: 'carol', password: 'carol-pass' }, { password: '123456' }]);
  t.match(challenge, { kind: 'ask', message: 'Enter OTP' });
  t.same(challenge!.kind === 'ask' && challenge!.prompts, [{ name: 'password', label: 'Response:', type: 'password' }], 'one password field');
  t.match(ok, { kind: 'ok', username: 'carol', attrs: { ipv4: '198.19.0.99' } });
  const [, , wrongOtp] = await login(b, [{ username: 'carol', password: 'carol-pass' }, { password: '000000' }]);
  t.match(wrongOtp, { kind: 'fail', retry: true, user: 'carol' });
  const [, wrongFirst] = await login(b, [{ username: 'carol', password: 'nope' }]);
  t.match(wrongFirst, { kind: 'fail', retry: true });
});

t.test('FreeRADIUS: default_realm and a user name from an earlier backend', async (t) => {
  const { b } = backend(fr.writeRadcliConfig(join(dir, 'realm.conf'), 'default_realm corp'), { groupconfig: 'true' });
  t.teardown(() => b.close());
  const conv = b.begin(REQ, { username: 'dave', groups: [], attrs: {} });
  const form = await conv.start();
  t.same(form.kind === 'ask' && form.prompts.map((p) => p.name), ['password'], 'the user is known: only a password');
  const ok = await conv.answer({ password: 'dave-pass' });
  t.match(ok, { kind: 'ok', username: 'dave', groups: ['corp'] }, 'sent as dave@corp, the session keeps the typed name');
});

t.test('FreeRADIUS: a wrong shared secret is silence, which ends the login without retry', async (t) => {
  const conf = join(dir, 'badsecret.conf');
  writeFileSync(conf, `authserver 127.0.0.1:${fr.authPort}:not-the-secret\nradius_timeout 1\nradius_retries 1\n`);
  const { b, log } = backend(conf);
  t.teardown(() => b.close());
  const [, step] = await login(b, [{ username: 'alice', password: 'alice-pass' }]);
  t.match(step, { kind: 'fail', reason: new RegExp(`RADIUS server\\(s\\) 127\\.0\\.0\\.1:${fr.authPort} did not answer`) });
  t.notOk(step!.kind === 'fail' && step!.retry, 'no retry: the server is not going to answer the next one either');
  t.match(log(), /RADIUS server did not answer/);
});

t.test('failover: a dead first server, then FreeRADIUS; all dead names them all', async (t) => {
  const dead1 = await freeUdpPort();
  const dead2 = await freeUdpPort();
  const conf = join(dir, 'failover.conf');
  writeFileSync(conf, `authserver 127.0.0.1:${dead1}:${fr.secret},127.0.0.1:${fr.authPort}:${fr.secret}\nradius_timeout 1\nradius_retries 2\nradius_deadtime 60\n`);
  const { b, log } = backend(conf);
  t.teardown(() => b.close());
  const [, ok] = await login(b, [{ username: 'alice', password: 'alice-pass' }]);
  t.match(ok, { kind: 'ok', username: 'alice' });
  t.match(log(), new RegExp(`"server":"127\\.0\\.0\\.1:${dead1}".*RADIUS server did not answer`));
  // radius_deadtime: the next login goes to the live server first and succeeds at once
  const before = log().length;
  const [, again] = await login(b, [{ username: 'alice', password: 'alice-pass' }]);
  t.match(again, { kind: 'ok' });
  t.notMatch(log().slice(before), /did not answer/, 'the dead server is tried last');

  const allDead = join(dir, 'alldead.conf');
  writeFileSync(allDead, `authserver 127.0.0.1:${dead1}:x,127.0.0.1:${dead2}:y\nradius_timeout 1\nradius_retries 1\n`);
  const d = backend(allDead);
  t.teardown(() => d.b.close());
  const [, fail] = await login(d.b, [{ username: 'alice', password: 'alice-pass' }]);
  t.match(fail, { kind: 'fail', reason: `RADIUS server(s) 127.0.0.1:${dead1}, 127.0.0.1:${dead2} did not answer (1 tries of 1 s each)` });
});

t.test('FreeRADIUS: an Accounting-Request through the same client lands in the detail file', async (t) => {
  const cap = captureLog();
  const client = new RadiusClient(parseRadcliConfig(readFileSync(fr.writeRadcliConfig(join(dir, 'acct.conf')), 'utf8'), 'acct.conf'), cap.log);
  t.teardown(() => client.close());
  const reply = await client.request('Accounting-Request', [
    ['Acct-Status-Type', 'Start'], ['Acct-Session-Id', 'ocs-test-session-1'], ['User-Name', 'alice'], ['NAS-Identifier', 'ocs-test'],
  ], 'acct');
  t.equal(reply.code, 'Accounting-Response');
  t.equal(reply.server, `127.0.0.1:${fr.acctPort}`);
  t.match(readFileSync(fr.detailPath, 'utf8'), /Acct-Session-Id = "ocs-test-session-1"/);
  await t.rejects(
    new RadiusClient(parseRadcliConfig('authserver 127.0.0.1:1:x\n', 'noacct.conf'), cap.log).request('Accounting-Request', [], 'acct'),
    /no acctserver configured/,
  );
});

// ---------------------------------------------------------------- a raw UDP "server"

interface FakeServer {
  port: number;
  secret: string;
  sock: Socket;
  /** every request datagram received */
  requests: Buffer[];
  close(): void;
}

async function fakeServer(secret: string, onRequest: (req: Buffer, rinfo: RemoteInfo, send: (b: Buffer) => void, n: number) => void): Promise<FakeServer> {
  const sock = createSocket('udp4');
  const requests: Buffer[] = [];
  sock.on('message', (msg, rinfo) => {
    requests.push(Buffer.from(msg));
    onRequest(msg, rinfo, (b) => sock.send(b, rinfo.port, rinfo.address), requests.length);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { port: sock.address().port, secret, sock, requests, close: () => sock.close() };
}

function goodReply(req: Buffer, secret: string, code = 'Access-Accept', attributes: unknown[] = [['Reply-Message', 'good']]): Buffer {
  const decoded = radius.decode({ packet: req, secret });
  return radius.encode_response({ packet: decoded, code, secret, attributes });
}

/** Recomputes the response authenticator of a hand-edited reply (RFC 2865 3). */
function resign(reply: Buffer, req: Buffer, secret: string): Buffer {
  const out = Buffer.from(reply);
  req.copy(out, 4, 4, 20);
  createHash('md5').update(out).update(secret).digest().copy(out, 4);
  return out;
}

function rawReply(code: number, id: number, attrBytes: Buffer, req: Buffer, secret: string, lengthField?: number): Buffer {
  const head = Buffer.alloc(20);
  head[0] = code;
  head[1] = id;
  head.writeUInt16BE(lengthField ?? 20 + attrBytes.length, 2);
  return resign(Buffer.concat([head, attrBytes]), req, secret);
}

function clientFor(port: number, secret: string, extra = '') {
  const cap = captureLog();
  const cfg = parseRadcliConfig(`authserver 127.0.0.1:${port}:${secret}\nradius_timeout 1\nradius_retries 2\n${extra}`, 'fake.conf');
  return { client: new RadiusClient(cfg, cap.log), log: cap.text };
}

const accessRequest = (c: RadiusClient): Promise<RadiusReply> =>
  c.request('Access-Request', [['User-Name', 'alice'], ['User-Password', 'pw']], 'auth');

t.test('bad replies are dropped with a log line; the request still gets the good one', async (t) => {
  const secret = 'fake-secret';
  const cases: { what: string; bad: (req: Buffer) => Buffer | Buffer[]; log: RegExp }[] = [
    { what: 'junk shorter than a header', bad: () => Buffer.from([2, 0, 0]), log: /shorter than a RADIUS header/ },
    { what: 'length field past the datagram', bad: (req) => goodReply(req, secret).subarray(0, 30), log: /truncated/ },
    { what: 'length field over 4096', bad: (req) => rawReply(2, req[1]!, Buffer.alloc(0), req, secret, 5000), log: /impossible length field/ },
    { what: 'wrong response authenticator', bad: (req) => { const r = goodReply(req, secret); r[5]! ^= 0xff; return r; }, log: /wrong response authenticator/ },
    { what: 'signed with another secret', bad: (req) => resign(goodReply(req, secret), req, 'other-secret'), log: /wrong response authenticator/ },
    {
      what: 'wrong identifier',
      bad: (req) => { const d = radius.decode({ packet: req, secret }); d.identifier = (d.identifier + 1) & 0xff; return radius.encode_response({ packet: d, code: 'Access-Accept', secret }); },
      log: /no request waiting with this identifier/,
    },
    { what: 'an answer of the wrong kind', bad: (req) => goodReply(req, secret, 'Accounting-Response', []), log: /code 5 does not answer Access-Request/ },
    // an attribute whose length runs past the end, correctly signed so only its structure is wrong
    { what: 'overlong attribute', bad: (req) => rawReply(2, req[1]!, Buffer.from([18, 40, 0x41, 0x42]), req, secret), log: /malformed attributes/ },
    { what: 'attribute length 1', bad: (req) => rawReply(2, req[1]!, Buffer.from([18, 1, 0x41]), req, secret), log: /malformed attributes/ },
    { what: 'a lone attribute type byte', bad: (req) => rawReply(2, req[1]!, Buffer.from([18]), req, secret), log: /malformed attributes/ },
    {
      what: 'wrong Message-Authenticator',
      bad: (req) => {
        const r = goodReply(req, secret);
        const at = r.indexOf(Buffer.from([80, 18]), 20);
        r[at + 5]! ^= 0x01;
        return resign(r, req, secret);
      },
      log: /wrong Message-Authenticator/,
    },
    {
      what: 'no Message-Authenticator',
      bad: (req) => radius.encode({ code: 'Access-Accept', identifier: req[1]!, authenticator: req.subarray(4, 20), secret, attributes: [['Reply-Message', 'bad']], add_message_authenticator: false }),
      log: /no Message-Authenticator/,
    },
  ];
  for (const c of cases) {
    const server = await fakeServer(secret, (req, _r, send) => {
      for (const b of [c.bad(req)].flat()) send(b);
      // the real answer follows the forgery
      setTimeout(() => send(goodReply(req, secret)), 50);
    });
    const { client, log } = clientFor(server.port, secret, 'require-message-authenticator yes\n');
    const reply = await accessRequest(client);
    t.equal(reply.code, 'Access-Accept', `${c.what}: the good reply still counts`);
    t.same(reply.all(18).map(String), ['good'], `${c.what}: and it is the good one`);
    t.match(log(), c.log, `${c.what}: logged`);
    t.match(log(), /RADIUS reply dropped/, `${c.what}: says dropped`);
    client.close();
    server.close();
  }
});

t.test('a reply from an unknown address or port is dropped', async (t) => {
  const secret = 'fake-secret';
  const stranger = createSocket('udp4');
  await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => stranger.close());
  const server = await fakeServer(secret, (req, rinfo, send) => {
    stranger.send(goodReply(req, secret, 'Access-Accept', [['Reply-Message', 'forged']]), rinfo.port, rinfo.address);
    setTimeout(() => send(goodReply(req, secret)), 50);
  });
  t.teardown(() => server.close());
  const { client, log } = clientFor(server.port, secret);
  t.teardown(() => client.close());
  const reply = await accessRequest(client);
  t.same(reply.all(18).map(String), ['good']);
  t.match(log(), new RegExp(`"from":"127\\.0\\.0\\.1:${stranger.address().port}".*from an unknown address`));
});

t.test('only bad replies: the request times out like silence, and the client keeps working', async (t) => {
  const secret = 'fake-secret';
  let answerWell = false;
  const server = await fakeServer(secret, (req, _r, send) => {
    send(answerWell ? goodReply(req, secret) : resign(goodReply(req, secret), req, 'wrong'));
  });
  t.teardown(() => server.close());
  const { client, log } = clientFor(server.port, secret);
  t.teardown(() => client.close());
  await t.rejects(accessRequest(client), RadiusUnreachableError);
  t.equal(server.requests.length, 2, 'radius_retries 2: two tries');
  t.match(log(), /wrong response authenticator/);
  answerWell = true;
  t.equal((await accessRequest(client)).code, 'Access-Accept');
});

t.test('by default a reply without Message-Authenticator is accepted (FreeRADIUS 3.2.1 sends none), a wrong one never', async (t) => {
  const secret = 'fake-secret';
  let forge = true;
  const server = await fakeServer(secret, (req, _r, send) => {
    if (forge) {
      const r = goodReply(req, secret);
      r[r.indexOf(Buffer.from([80, 18]), 20) + 2]! ^= 0x80;
      send(resign(r, req, secret));
    }
    send(radius.encode({ code: 'Access-Reject', identifier: req[1]!, authenticator: req.subarray(4, 20), secret, attributes: [], add_message_authenticator: false }));
  });
  t.teardown(() => server.close());
  const { client, log } = clientFor(server.port, secret);
  t.teardown(() => client.close());
  t.equal((await accessRequest(client)).code, 'Access-Reject', 'the forged Accept before it was dropped');
  t.match(log(), /wrong Message-Authenticator/);
  forge = false;
  t.equal((await accessRequest(client)).code, 'Access-Reject');
});

t.test('a retransmission is the same packet; a late answer to it still counts', async (t) => {
  const secret = 'fake-secret';
  const server = await fakeServer(secret, (req, _r, send, n) => {
    if (n === 2) send(goodReply(req, secret));
  });
  t.teardown(() => server.close());
  const { client } = clientFor(server.port, secret);
  t.teardown(() => client.close());
  const reply = await accessRequest(client);
  t.equal(reply.code, 'Access-Accept');
  t.equal(server.requests.length, 2);
  t.same(server.requests[1], server.requests[0], 'same identifier, authenticator and attributes');
});

t.test('the Access-Request as a server decodes it', async (t) => {
  const secret = 'fake-secret';
  const seen: Record<string, unknown>[] = [];
  const server = await fakeServer(secret, (req, _r, send) => {
    // decode() verifies the request's Message-Authenticator and undoes the password hiding
    const d = radius.decode({ packet: req, secret });
    seen.push(d.attributes);
    if (!d.attributes.State) {
      send(radius.encode_response({ packet: d, code: 'Access-Challenge', secret, attributes: [['State', Buffer.from('st-1')], ['Reply-Message', 'Token?']] }));
    } else {
      send(radius.encode_response({ packet: d, code: 'Access-Accept', secret, attributes: [['Framed-IP-Address', '255.255.255.254']] }));
    }
  });
  t.teardown(() => server.close());
  const conf = join(dir, 'fake-req.conf');
  writeFileSync(conf, `authserver 127.0.0.1:${server.port}:${secret}\nnas-ip 198.18.0.1\nnas-identifier from-radcli\ndefault_realm example.org\nradius_timeout 1\nradius_retries 1\n`);
  const { b } = backend(conf, { 'nas-identifier': 'from-ocserv' });
  t.teardown(() => b.close());
  const [, ch, ok] = await login(b, [{ username: 'erin', password: 'pässword "1"' }, { password: '987654' }]);
  t.match(ch, { kind: 'ask', message: 'Token?' });
  t.match(seen[0], {
    'User-Name': 'erin@example.org',
    'User-Password': 'pässword "1"',
    'NAS-Identifier': 'from-radcli',
    'NAS-IP-Address': '198.18.0.1',
    'Calling-Station-Id': '198.18.7.2',
    'Called-Station-Id': '198.18.0.1',
    'Service-Type': 'Framed-User',
    'Framed-Protocol': 'PPP',
    'NAS-Port-Type': 'Virtual',
    'Connect-Info': 'Open AnyConnect VPN Agent v9.01',
  });
  t.ok(seen[0]!['Message-Authenticator'], 'Message-Authenticator present (and verified by decode)');
  t.notOk(seen[0]!.State, 'no State in the first request');
  t.match(seen[1], { 'User-Name': 'erin@example.org', 'User-Password': '987654' });
  t.same(seen[1]!.State, Buffer.from('st-1'), 'the State is echoed');
  t.match(ok, { kind: 'ok', username: 'erin' });
  t.same(ok!.kind === 'ok' && ok!.attrs, {}, 'Framed-IP-Address 255.255.255.254 means "from the pool"');
});

t.test('attributes with odd sizes are ignored, not trusted', async (t) => {
  const { RadiusReply } = await import('../../src/secmod/radius/client');
  const r = new RadiusReply('Access-Accept', 1, 'x:1', [
    { type: 8, value: Buffer.from([10, 0, 0]) },
    { type: 27, value: Buffer.from([0, 1]) },
    { type: 22, value: Buffer.from('not a route') },
    { type: 26, value: Buffer.from([0, 0, 1, 55, 28, 9, 1, 2, 3]) },
    { type: 97, value: Buffer.from([0, 200]) },
    { type: 169, value: Buffer.alloc(4) },
  ]);
  const ignored: string[] = [];
  t.same(sessionAttributes(r, (w) => ignored.push(w)), {});
  t.match(ignored.join('\n'), /Framed-IP-Address of 3 bytes[\s\S]*Framed-IPv6-Prefix[\s\S]*route 'not a route'/);
});
