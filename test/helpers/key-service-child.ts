/**
 * A stand-in sec-mod for engine tests: the real KeyService on fd 3.
 * argv: [--delay-first=MS] cert key [cert key ...]
 */
import { Channel } from '../../src/ipc/channel';
import { keyToSecmod, type KeyToSecmod, type SecmodToKey } from '../../src/ipc/key-messages';
import { createLogger } from '../../src/common/log';
import { KeyService } from '../../src/secmod/key-service';

const args = process.argv.slice(2);
let delayFirst = 0;
if (args[0]?.startsWith('--delay-first=')) delayFirst = Number(args.shift()!.slice('--delay-first='.length));
const pairs = [];
for (let i = 0; i + 1 < args.length; i += 2) pairs.push({ certFile: args[i], keyFile: args[i + 1] });
const log = createLogger('key-child', 'error');
const keys = new KeyService(pairs, log);
const ch = new Channel<KeyToSecmod, SecmodToKey>(3, { name: 'key-child', log, validators: keyToSecmod });
ch.onClose(() => process.exit(0));
ch.on('key.sign', (req, ctx) => {
  const answer = () => {
    try {
      ctx.reply('key.signed', { sig: keys.sign(req) });
    } catch (err) {
      ctx.reply('key.error', { reason: (err as Error).message });
    }
  };
  if (delayFirst > 0) {
    setTimeout(answer, delayFirst);
    delayFirst = 0;
  } else {
    answer();
  }
});
