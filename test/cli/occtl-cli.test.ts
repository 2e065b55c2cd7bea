/** occtl-ts's command line and prompt, without a server (the commands then say it is offline). */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from '../../src/cli/occtl';
import { DEFAULT_OCCTL_SOCKET } from '../../src/ipc/control';

const BIN = join(__dirname, '..', '..', '..', 'bin', 'occtl-ts');
const run = (args: string[], input?: string) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input, timeout: 20_000 });

t.test('occtl\'s options', async (t) => {
  t.match(parseArgs(['-j', '-n', '--debug', '-s', '/x.sock', 'show', 'users']), {
    opts: { json: true, noPager: true, debug: true, socket: '/x.sock' }, command: ['show', 'users'],
  });
  t.match(parseArgs(['--socket-file=/y', 'show', 'status']), { opts: { socket: '/y' } });
  t.match(parseArgs(['show', 'users']), { opts: { socket: DEFAULT_OCCTL_SOCKET, json: false } });
  t.throws(() => parseArgs(['-s']), { name: 'OcctlUsageError' });
  t.throws(() => parseArgs(['--what']), { name: 'OcctlUsageError', message: /unknown option '--what'/ });
  const help = run(['-h']);
  t.equal(help.status, 0);
  t.match(help.stdout, /^occtl-ts: \[OPTIONS\.\.\.\] \{COMMAND\}\n[\s\S]*-n --no-pager[\s\S]*Available Commands\n/);
  t.match(run(['-v']).stderr, /occtl-ts\) version \d/);
  const bad = run(['--what', 'show', 'users']);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /unknown option '--what'[\s\S]*Available Commands/);
});

t.test('no server: status says offline, other commands say why', async (t) => {
  const st = run(['-s', '/nonexistent/occtl.sock', 'show', 'status']);
  t.equal(st.status, 1);
  t.equal(st.stdout, '\tStatus: offline\n');
  t.match(st.stderr, "error connecting to ocserv socket '/nonexistent/occtl.sock': No such file or directory");
  const js = run(['-j', '-s', '/nonexistent/occtl.sock', 'show', 'status']);
  t.same(JSON.parse(js.stdout), { Status: 'offline' });
  t.equal(run(['-s', '/nonexistent/occtl.sock', 'show', 'users']).status, 1);
});

t.test('the prompt on a terminal: history and completion', async (t) => {
  // script(1) gives occtl-ts a pseudo-terminal; the pauses let the prompt draw
  const keys = "sleep 0.8; printf 'show status\\r'; sleep 0.8; printf '\\033[A\\r'; sleep 0.8; printf 'sho\\t'; sleep 0.4; printf '\\025exit\\r'; sleep 0.5";
  const r = spawnSync('sh', ['-c', `(${keys}) | script -qec "${process.execPath} ${BIN} -s /nonexistent/occtl.sock" /dev/null`], { encoding: 'utf8', timeout: 20_000 });
  t.match(r.stdout, /For help type \? or 'help'/);
  t.equal(r.stdout.match(/Status: offline/g)?.length, 2, 'the up arrow brought the command back');
  t.match(r.stdout, /> \x1b\[3Gshow /, 'TAB completed "sho"');
});
