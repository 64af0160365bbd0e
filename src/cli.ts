#!/usr/bin/env node
// The bin: parse argv, run, exit with the command's code. The only place that exits.
import { main } from './main.js';

const code = await main(process.argv.slice(2));
// Exit once stdout has flushed: wait-on timers may still be pending, and a detached `up`
// must not wait for its children.
process.stdout.write('', () => process.exit(code));
