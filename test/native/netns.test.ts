/**
 * listen-netns's native part: sockets made in another network namespace (a test topology's
 * client namespace) while this process stays in its own.
 */
import t from 'tap';
import { createServer, type Socket } from 'node:net';
import { closeFd, netnsClose, netnsListen, netnsOpen, netnsSocket, socketInfo, udpConnected } from '../../src/native/index';
import { createTopology, removeStaleNamespaces, serverEnv, type Topology } from '../helpers/netns';

let topo: Topology;
t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(() => topo?.cleanup());

const nsPath = (ns: string) => `/var/run/netns/${ns}`;

/** from the server namespace: connect to ip:port with node's net and print what the peer says */
async function tcpFromServerNs(ip: string, port: number): Promise<string> {
  const js = `const s=require('net').connect(${port},'${ip}');let d='';s.on('data',(b)=>d+=b);s.on('end',()=>{console.log(d);process.exit(0)});s.on('error',(e)=>{console.log('error '+e.code);process.exit(1)})`;
  const r = await topo.exec(topo.serverNs, process.execPath, ['-e', js], { env: serverEnv(), timeoutMs: 10_000 });
  return r.stdout.trim();
}

t.test('a TCP listener made in another namespace serves that namespace\'s clients', async (t) => {
  const ns = netnsOpen(nsPath(topo.clientNs));
  t.teardown(() => netnsClose(ns));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const fd = netnsListen(ns, topo.clientIp, port, 'tcp');
  t.match(socketInfo(fd), { type: 'stream', family: 'inet', listening: true, address: topo.clientIp, port });
  const shown = await topo.exec(topo.clientNs, 'ss', ['-Hltn', `src ${topo.clientIp}:${port}`]);
  t.match(shown.stdout, `${topo.clientIp}:${port}`, 'ss in that namespace lists it');
  const server = createServer((s: Socket) => s.end('hello from the netns'));
  await new Promise<void>((r) => server.listen({ fd }, r));
  t.teardown(() => server.close());
  t.equal(await tcpFromServerNs(topo.clientIp, port), 'hello from the netns', 'a client across the veth reaches it');
});

t.test('a per-client UDP socket is made in the namespace too', async (t) => {
  const ns = netnsOpen(nsPath(topo.clientNs));
  t.teardown(() => netnsClose(ns));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const listener = netnsListen(ns, topo.clientIp, port, 'udp');
  t.teardown(() => closeFd(listener));
  const fd = udpConnected(topo.clientIp, port, topo.serverIp, 5555, ns);
  t.teardown(() => closeFd(fd));
  const shown = await topo.exec(topo.clientNs, 'ss', ['-Hun', `dst ${topo.serverIp}:5555`]);
  t.match(shown.stdout, `${topo.clientIp}:${port}`, 'connected to the peer, bound to the listen port, in that namespace');
  t.throws(() => udpConnected(topo.clientIp, port, topo.serverIp, 5556), { code: 'EADDRNOTAVAIL' }, 'this process\'s own namespace has no such address');
});

t.test('sockets of both families', async (t) => {
  const ns = netnsOpen(nsPath(topo.clientNs));
  t.teardown(() => netnsClose(ns));
  for (const [family, type] of [[4, 'dgram'], [6, 'stream']] as const) {
    const fd = netnsSocket(ns, family, type);
    t.match(socketInfo(fd), { family: family === 4 ? 'inet' : 'inet6', type });
    closeFd(fd);
  }
});

t.test('clear errors: no such namespace, not a namespace, a closed handle', async (t) => {
  t.throws(() => netnsOpen('/var/run/netns/ocs-no-such-namespace'), { code: 'ENOENT', syscall: 'open' });
  t.throws(() => netnsOpen('/dev/null'), { code: 'EINVAL', syscall: 'setns' });
  const ns = netnsOpen(nsPath(topo.clientNs));
  netnsClose(ns);
  t.throws(() => netnsSocket(ns, 4, 'stream'), { code: 'EBADF' });
  t.throws(() => netnsListen(ns, 'not an address', 1, 'tcp', 1), TypeError);
});
