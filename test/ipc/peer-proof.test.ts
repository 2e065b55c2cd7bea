import t from 'tap';
import { randomBytes } from 'node:crypto';
import { peerProven, provePeer } from '../../src/ipc/peer-proof';
import { PeerCheck } from '../../src/secmod/peer-check';

t.test('a proof holds only under main\'s key and for exactly what main saw', async (t) => {
  const key = randomBytes(32);
  const p = provePeer(key, { connId: 7, remoteAddr: '198.18.0.2', cert: 'none' });
  t.ok(peerProven(key, p));
  t.notOk(peerProven(randomBytes(32), p), 'another key');
  t.notOk(peerProven(undefined, p), 'no key yet');
  t.notOk(peerProven(key, { ...p, remoteAddr: '198.18.0.3' }), 'another address');
  t.notOk(peerProven(key, { ...p, connId: 8 }), 'another connection');
  t.notOk(peerProven(key, { ...p, mac: p.mac.slice(0, -2) }), 'truncated MAC');
  t.notOk(peerProven(key, { ...p, mac: '' }), 'empty MAC');
});

t.test('sec-mod\'s check also ties the proof to the address claimed beside it', async (t) => {
  const key = randomBytes(32);
  const proof = provePeer(key, { connId: 1, remoteAddr: '198.18.0.2', cert: 'none' });
  const check = new PeerCheck();
  t.notOk(check.proven({ remoteAddr: '198.18.0.2', proof }), 'before main sent the key');
  check.setKey(key);
  t.ok(check.proven({ remoteAddr: '198.18.0.2', proof }));
  t.notOk(check.proven({ remoteAddr: '198.18.0.9', proof }), 'a proof for one address, a claim of another');
});
