/**
 * The test's side of sd_notify: a unix datagram socket like systemd's NOTIFY_SOCKET, owned
 * by a small python3 process (Node cannot receive on unix datagram sockets) that prints each
 * datagram as one JSON string per line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("listening"), flush=True)
while True:
    print(json.dumps(s.recv(65536).decode("utf-8", "replace")), flush=True)
`;

export interface NotifyListener {
  path: string;
  /** every datagram received so far, in order */
  messages(): string[];
  /** the first message matching re (waits up to timeoutMs) */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  close(): void;
}

export async function listenNotify(path: string): Promise<NotifyListener> {
  const proc: ChildProcess = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const got: string[] = [];
  let buf = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) if (l) got.push(JSON.parse(l) as string);
  });
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const waitFor = async (re: RegExp, timeoutMs = 20_000): Promise<string> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = got.find((x) => re.test(x));
      if (m !== undefined) return m;
      if (Date.now() > until || proc.exitCode !== null) {
        throw new Error(`no notification matching ${re} within ${timeoutMs} ms; got ${JSON.stringify(got)} ${err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await waitFor(/^listening$/, 10_000);
  if (!existsSync(path)) throw new Error(`notify socket ${path} was not created`);
  got.shift();
  return { path, messages: () => [...got], waitFor, close: () => { proc.kill('SIGKILL'); } };
}
