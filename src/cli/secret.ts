/**
 * @module cli/secret
 * Secrets never come from the command line, where `ps` and shell history would keep them: they
 * are piped in (`--password-stdin`, `--proxy-password-stdin`) or typed at a terminal with echo off.
 */

/** One line of input without its line ending (`echo "$PW" | berth … --password-stdin`). */
export function readFirstLine(input: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (line: string): void => {
      input.off('data', onData).off('end', onEnd).off('error', reject);
      // Nothing after the first line is ours to read.
      input.pause();
      resolve(line.endsWith('\r') ? line.slice(0, -1) : line);
    };
    const onData = (chunk: string): void => {
      text += chunk;
      const newline = text.indexOf('\n');
      if (newline >= 0) finish(text.slice(0, newline));
    };
    const onEnd = (): void => finish(text);
    input.setEncoding('utf8');
    input.on('data', onData).once('end', onEnd).once('error', reject);
  });
}

/** Reads a line at the terminal in raw mode, so what is typed is never echoed. */
export function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve) => {
    let chars: string[] = [];
    const restore = (): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          restore();
          resolve(chars.join(''));
          return;
        }
        if (ch === '\u0003') {
          // Raw mode turns Ctrl-C into a character: leave the terminal as it was and stop.
          restore();
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') chars.pop();
        else if (ch === '\u0015') chars = [];
        else if (ch >= ' ') chars.push(ch);
      }
    };
    input.setEncoding('utf8');
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}
