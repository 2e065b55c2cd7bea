import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  FdWatcher,
  PacketIO,
  closeFd,
  dupFd,
  peerCred,
  seqpacketAccept,
  seqpacketConnect,
  seqpacketListen,
  seqpacketPair,
  setCloexec,
  setNonblock,
  tunOpen,
} from '../../src/native/index';

function fdFlags(fd: number): number {
  const m = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/flags:\s+(\d+)/);
  if (!m) throw new Error('no flags in fdinfo');
  return parseInt(m[1], 8);
}
const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;

t.test('seqpacketPair gives non-blocking CLOEXEC fds', async (t) => {
  const [a, b] = seqpacketPair();
  t.teardown(() => {
    closeFd(a);
    closeFd(b);
  });
  for (const fd of [a, b]) {
    t.ok(fdFlags(fd) & O_CLOEXEC, 'O_CLOEXEC');
    t.ok(fdFlags(fd) & O_NONBLOCK, 'O_NONBLOCK');
  }
  const cred = peerCred(a);
  t.same(cred, { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
});

t.test('dupFd, closeFd, setCloexec, setNonblock', async (t) => {
  const [a, b] = seqpacketPair();
  const d = dupFd(a);
  t.not(d, a);
  t.ok(d >= 3);
  t.ok(fdFlags(d) & O_CLOEXEC, 'dup is CLOEXEC');
  fs.writeSync(d, 'via dup');
  closeFd(a);
  const buf = Buffer.alloc(32);
  t.equal(buf.subarray(0, fs.readSync(b, buf)).toString(), 'via dup', 'dup still works after the original is closed');
  setCloexec(d, false);
  t.notOk(fdFlags(d) & O_CLOEXEC);
  setCloexec(d, true);
  t.ok(fdFlags(d) & O_CLOEXEC);
  setNonblock(d, false);
  t.notOk(fdFlags(d) & O_NONBLOCK);
  setNonblock(d, true);
  closeFd(d);
  closeFd(b);
  const err = t.throws(() => closeFd(d)) as NodeJS.ErrnoException;
  t.equal(err.code, 'EBADF');
  t.equal(err.errno, -9);
  t.equal(err.syscall, 'close');
  t.match(err.message, /Bad file descriptor/);
  t.throws(() => dupFd(d), { code: 'EBADF' });
  t.throws(() => closeFd(-1), RangeError);
  t.throws(() => closeFd('3' as unknown as number), TypeError);
});

t.test('seqpacket listen/connect/accept with FdWatcher', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocs-native-'));
  const sock = path.join(dir, 'ctl.sock');
  fs.writeFileSync(sock, 'stale'); // a non-socket is never unlinked
  t.throws(() => seqpacketListen(sock, 8), { code: 'EADDRINUSE' });
  fs.unlinkSync(sock);
  const first = seqpacketListen(sock, 8, 0o600);
  closeFd(first);
  // A stale socket file from a previous run is replaced.
  const lfd = seqpacketListen(sock, 8, 0o600);
  t.equal(fs.statSync(sock).mode & 0o777, 0o600);
  t.equal(seqpacketAccept(lfd), -1, 'nothing to accept yet');

  const accepted = new Promise<number>((resolve, reject) => {
    const w = new FdWatcher(lfd, (err, readable) => {
      if (err) return reject(err);
      if (!readable) return;
      const fd = seqpacketAccept(lfd);
      if (fd < 0) return;
      w.close();
      resolve(fd);
    });
    w.start(true);
  });
  const cfd = seqpacketConnect(sock);
  const sfd = await accepted;
  t.same(peerCred(sfd).pid, process.pid);
  t.ok(fdFlags(sfd) & O_NONBLOCK);
  t.ok(fdFlags(sfd) & O_CLOEXEC);
  t.ok(fdFlags(cfd) & O_CLOEXEC);

  const got = new Promise<string>((resolve) => {
    const io = new PacketIO(sfd, { mode: 'msg', maxPacket: 1000, batch: 4 }, {
      onPackets(slab) {
        io.close();
        resolve(slab.toString());
      },
    });
    io.start();
  });
  fs.writeSync(cfd, 'hello control socket');
  t.equal(await got, 'hello control socket');
  closeFd(cfd);
  closeFd(lfd);
  t.throws(() => seqpacketConnect(path.join(dir, 'missing.sock')), { code: 'ENOENT' });
  t.throws(() => seqpacketListen('/x'.repeat(100), 1), { code: 'ENAMETOOLONG' });
  fs.rmSync(dir, { recursive: true, force: true });
});

t.test('tunOpen checks the name before touching the kernel', async (t) => {
  t.throws(() => tunOpen('a-name-that-is-far-too-long'), RangeError);
  t.throws(() => tunOpen(''), RangeError);
  t.throws(() => tunOpen('bad\0name'), TypeError);
});
