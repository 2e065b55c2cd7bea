import { spawn } from 'node:child_process';

/**
 * Long listings go through a pager on a terminal, as occtl does: $OCCTL_PAGER, then $PAGER,
 * then less with LESS=FRSX (which quits at once when the text fits the screen).
 */
export async function page(text: string, noPager: boolean): Promise<void> {
  const pager = process.env.OCCTL_PAGER ?? process.env.PAGER ?? 'less';
  if (noPager || !process.stdout.isTTY || pager === '' || text === '') {
    process.stdout.write(text);
    return;
  }
  await new Promise<void>((resolve) => {
    const child = spawn('sh', ['-c', pager], { stdio: ['pipe', 'inherit', 'inherit'], env: { LESS: 'FRSX', ...process.env } });
    child.on('error', () => {
      process.stderr.write('unable to start pager; check your $PAGER environment variable\n');
      process.stdout.write(text);
      resolve();
    });
    child.on('exit', () => resolve());
    child.stdin.on('error', () => {}); // the reader may quit before reading everything
    child.stdin.end(text);
  });
}
