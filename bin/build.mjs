#!/usr/bin/env node
// Compiles electron/, native/ and resources/ into dist/ and stamps the build with the digest of
// the sources it was made from (compiled.mjs), so `skp` runs it only while the two agree. The
// digest is taken before compiling: a file edited during the build leaves a stamp that no longer
// matches, never a stamp that vouches for output the compiler did not see.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { STAMP, sourcesDigest } from './compiled.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const stamp = path.join(root, STAMP);
fs.rmSync(stamp, { force: true });
const digest = sourcesDigest(root);
const typescript = path.dirname(createRequire(import.meta.url).resolve('typescript/package.json'));
const tsc = path.join(typescript, 'bin', 'tsc');
const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
fs.writeFileSync(stamp, `${digest}\n`);
