#!/usr/bin/env node
// The bin: parse argv, run, exit with the command's code. The only place that exits.
import { guardStdio, safeWrite, unexpectedWriteFailure } from './log.js';
import { main } from './main.js';

// Before anything writes: a closed terminal or a dead pipe must not kill a supervising `up`.
guardStdio();
const code = await main(process.argv.slice(2));
// Exit once stdout has flushed: wait-on timers may still be pending, and a detached `up`
// must not wait for its children. A failed stdout calls back at once, with its error.
process.stdout.write('', () => {
  const lost = unexpectedWriteFailure(process.stdout);
  if (lost && code === 0) {
    safeWrite(
      process.stderr,
      `error: could not write the output (${lost.code ?? lost.message}). Check where standard output goes (a full disk?) and run again\n`,
    );
    process.exit(1);
  }
  process.exit(code);
});
