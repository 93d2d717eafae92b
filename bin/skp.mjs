#!/usr/bin/env node
// Runs the TypeScript CLI through tsx so `npx skp` works without a build step. Signals are passed
// on, so Ctrl-C or a kill reaches the real process (a training run checkpoints and stops cleanly).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'electron/cli/main.ts'), ...process.argv.slice(2)], {
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
// A child ended by a signal exits as shells report it: 128 + the signal number.
child.on('exit', (code, signal) => process.exit(code ?? 128 + (os.constants.signals[signal] ?? 0)));
