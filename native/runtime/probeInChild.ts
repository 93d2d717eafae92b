// Runs a provider's test session in a Node process of its own. WebGPU's native library (Dawn)
// writes its warnings while it looks for a GPU ("Warning: Couldn't load Vulkan: libvulkan.so.1…")
// straight to the terminal, where no ONNX Runtime option reaches them; a child's output can be
// kept instead, and its first line tells the user more than "no adapter" does.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

export type ChildProbeResult = { ok: true } | { ok: false; error: string; output: string };

/** How long a driver may take to find (or not find) an adapter before we give up on it. */
const PROBE_SECONDS = 60;

// Plain JavaScript: the child loads nothing of ours, only onnxruntime-node. It answers on fd 3,
// which no native library writes to, and exits at once (a GPU runtime's threads may linger).
const CHILD = `
const fs = require('node:fs');
const [ortPath, provider, model] = process.argv.slice(1);
const answer = (result) => fs.writeSync(3, JSON.stringify(result));
// Our stdin closes when the process that asked is gone (even by kill -9): nobody waits any more.
process.stdin.on('end', () => process.exit(1)).resume();
(async () => {
  const ort = require(ortPath);
  const session = await ort.InferenceSession.create(Buffer.from(model, 'base64'), {
    executionProviders: [provider],
    logSeverityLevel: 4,
  });
  const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [2, 2]) });
  const y = Object.values(out)[0]?.data;
  answer(y && y[3] === 8 ? { ok: true } : { ok: false, error: 'a test session returned wrong values' });
})()
  .catch((e) => answer({ ok: false, error: String(e && e.message).split('\\n')[0] }))
  .then(() => process.exit(0));
`;

/** Creates and runs `model` (input x [2, 2] → x + x) on `provider` in a child process. */
export function probeInChild(provider: string, model: Uint8Array): Promise<ChildProbeResult> {
  const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  const child = spawn(
    process.execPath,
    ['--no-warnings', '-e', CHILD, ortPath, provider, Buffer.from(model).toString('base64')],
    { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], timeout: PROBE_SECONDS * 1000 },
  );
  let output = '';
  let answer = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (answer += d.toString()));
  return new Promise((resolve) => {
    child.on('error', (e) => resolve({ ok: false, error: `the test process did not start: ${e.message}`, output }));
    child.on('close', (code, signal) => {
      if (answer) {
        const result = JSON.parse(answer) as { ok: true } | { ok: false; error: string };
        resolve(result.ok ? result : { ...result, output });
      } else if (signal === 'SIGTERM') {
        resolve({ ok: false, error: `the test session did not finish within ${PROBE_SECONDS} s`, output });
      } else {
        resolve({ ok: false, error: `the test process ended (${signal ?? `exit code ${code}`})`, output });
      }
    });
  });
}
