import t from 'tap';
import { commandList, helpFor, parseCommand } from '../../src/cli/occtl-commands';

t.test('commands as occtl matches them', async (t) => {
  t.same(parseCommand('show users'), { ok: true, id: 'users', arg: '' });
  t.same(parseCommand('  SHOW   Users '), { ok: true, id: 'users', arg: '' }, 'case and spaces do not matter');
  t.same(parseCommand('show user Alice'), { ok: true, id: 'user', arg: 'Alice' }, 'arguments keep their case');
  t.same(parseCommand('show id 12'), { ok: true, id: 'id', arg: '12' });
  t.same(parseCommand('show ip bans'), { ok: true, id: 'ip-bans', arg: '' });
  t.same(parseCommand('show ip ban points'), { ok: true, id: 'ip-ban-points', arg: '' });
  t.same(parseCommand('show sessions all'), { ok: true, id: 'sessions-all', arg: '' });
  t.same(parseCommand('show cookies valid'), { ok: true, id: 'sessions-valid', arg: '' }, 'occtl\'s hidden alias');
  t.same(parseCommand('show session AbC123'), { ok: true, id: 'session', arg: 'AbC123' });
  t.same(parseCommand('unban ip 2001:db8::1'), { ok: true, id: 'unban-ip', arg: '2001:db8::1' });
  t.same(parseCommand('disconnect user bob'), { ok: true, id: 'disconnect-user', arg: 'bob' });
  t.same(parseCommand('disconnect id 3'), { ok: true, id: 'disconnect-id', arg: '3' });
  t.same(parseCommand('terminate session q9zQkO'), { ok: true, id: 'terminate-session', arg: 'q9zQkO' });
  t.same(parseCommand('stop now'), { ok: true, id: 'stop', arg: 'now' });
  t.same(parseCommand('reload'), { ok: true, id: 'reload', arg: '' });
  t.same(parseCommand('?'), { ok: true, id: 'help', arg: '' });
  t.same(parseCommand('quit'), { ok: true, id: 'exit', arg: '' });
});

t.test('wrong arguments and unknown commands', async (t) => {
  const bad = (line: string) => {
    const p = parseCommand(line);
    t.equal(p.ok, false, line);
    return p as Extract<typeof p, { ok: false }>;
  };
  t.match(bad('show id abc'), { kind: 'usage', message: /'abc' is not an ID/, help: /show id \[ID\]/ });
  t.match(bad('show id 0'), { kind: 'usage' });
  t.match(bad('disconnect id'), { kind: 'usage', message: /needs an ID/ });
  t.match(bad('disconnect user'), { kind: 'usage', help: /disconnect user \[NAME\]/ });
  t.match(bad('unban ip not-an-ip'), { kind: 'usage', message: 'Cannot parse IP: not-an-ip' });
  t.match(bad('show users extra'), { kind: 'usage', message: /takes no argument/ });
  t.match(bad('stop'), { kind: 'usage', message: /stop now/ });
  t.match(bad('show user ?'), { kind: 'usage', help: /show user \[NAME\]/ });
  const u = bad('frobnicate the server');
  t.equal(u.kind, 'unknown');
  t.equal(u.message, 'unknown command: frobnicate the server');
  const partial = bad('show sessions');
  t.equal(partial.kind, 'usage', 'a command cut short lists the commands it begins');
  t.match(partial.help, /show sessions all/);
  t.match(partial.help, /show sessions valid/);
});

t.test('help lists occtl\'s commands in occtl\'s layout', async (t) => {
  const list = commandList(false);
  t.match(list, /^Available Commands\n disconnect user \[NAME\]\tDisconnect the specified user\n/);
  t.match(list, /\n      show status\tPrints the status and statistics of the server\n/);
  t.match(list, /\n         stop now\tTerminates the server\n$/);
  t.notMatch(list, /reset/, 'interactive-only commands are not in the usage');
  t.match(commandList(true), /\n            reset\tResets the screen and terminal\n/);
  t.match(commandList(true), /\n         help or \?\tPrints this help\n/);
  t.notMatch(commandList(true), /cookies/, 'aliases stay hidden');
  t.equal(helpFor('show ip'), '     show ip bans\tPrints the banned IP addresses\n show ip ban points\tPrints all the known IP addresses which have points\n');
});
