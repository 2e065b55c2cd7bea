/**
 * Reading a password as ocpasswd does: from a terminal without echo (getpass), otherwise
 * the first line of standard input.
 */

export class InputEndedError extends Error { override name = 'InputEndedError'; }

/** A prompt on the terminal with echo off; CTRL+C aborts, CTRL+D ends the input. */
export function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\x03') return done(new InputEndedError('interrupted'));
        if (ch === '\x04') return value === '' ? done(new InputEndedError('end of input')) : done();
        if (ch === '\x7f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** The first line of standard input, without its newline; undefined when there is none. */
export function readFirstLine(): Promise<string | undefined> {
  const stdin = process.stdin;
  return new Promise((resolve) => {
    let buf = '';
    const finish = (v: string | undefined) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
      resolve(v);
    };
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(buf.slice(0, nl));
    };
    const onEnd = () => finish(buf === '' ? undefined : buf);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.resume();
  });
}
