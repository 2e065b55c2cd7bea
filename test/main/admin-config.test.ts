import t from 'tap';
import { buildConfig, parseConfigText, type ConfigWarning } from '../../src/common/config';
import { DEFAULT_OCCTL_SOCKET } from '../../src/ipc/control';

const BASE = 'auth = "plain[passwd=/p]"\nserver-cert = /a\nserver-key = /b\n';
const parse = (text: string, warnings: ConfigWarning[] = []) => buildConfig(parseConfigText(text, 'test.conf', warnings), 'test.conf');

t.test('occtl and ban options: ocserv\'s defaults', async (t) => {
  const c = parse(BASE);
  t.match(c, {
    useOcctl: false, occtlSocketFile: DEFAULT_OCCTL_SOCKET, occtlGroup: undefined,
    maxBanScore: 30, banResetTime: 300, banPointsWrongPassword: 10, banPointsConnection: 1, minReauthTime: 300,
  });
});

t.test('occtl and ban options as written, and acted on (no "not yet" note)', async (t) => {
  const warnings: ConfigWarning[] = [];
  const c = parse(`${BASE}use-occtl = true\nocctl-socket-file = /run/x.sock\nocctl-group = adm\nmax-ban-score = 80\nban-reset-time = 1200\n` +
    'ban-points-wrong-password = 20\nban-points-connection = 2\nmin-reauth-time = 60\n', warnings);
  t.match(c, {
    useOcctl: true, occtlSocketFile: '/run/x.sock', occtlGroup: 'adm',
    maxBanScore: 80, banResetTime: 1200, banPointsWrongPassword: 20, banPointsConnection: 2, minReauthTime: 60,
  });
  t.same(warnings, []);
});
