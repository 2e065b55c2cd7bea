import t from 'tap';
import { ipUdpHeaders, tunMtu, tunnelMtu } from '../../src/common/tunnel-mtu';

t.test('room for IP and UDP always, for the DTLS record only with DTLS', async (t) => {
  t.equal(ipUdpHeaders(false), 28);
  t.equal(ipUdpHeaders(true), 48);
  t.same(tunnelMtu(1500, false), { link: 1500, cstp: 1472 }, 'no DTLS asked');
  t.same(tunnelMtu(1500, true, 38), { link: 1500, cstp: 1452, dtlsOverhead: 38 }, 'over IPv6');
  t.equal(tunMtu(tunnelMtu(1500, false), undefined, false), 1472, 'CSTP alone');
  t.equal(tunMtu(tunnelMtu(1500, false, 38), undefined, false), 1434, 'with DTLS (AES-GCM)');
  t.equal(tunMtu(tunnelMtu(1500, false, 38), undefined, true), 1472, 'no-udp: DTLS will not come');
  t.equal(tunMtu(tunnelMtu(1500, false, 38), 1400, false), 1400, 'mtu caps it');
  t.equal(tunMtu(tunnelMtu(300, false), undefined, false), 576, 'never under 576');
});
