// Test harness: starts a real `coopmux` (the release build) on a free loopback port.
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');
export const COOPMUX = process.env.COOPMUX_BIN ?? path.join(REPO, 'target', 'release', 'coopmux');

export interface Mux {
  url: string;
  proc: ChildProcess;
  log: () => string;
  stop: () => Promise<void>;
}

/** Starts `coopmux --port 0 …args` and resolves once it logs its address. */
export async function startMux(args: string[] = [], env: Record<string, string> = {}): Promise<Mux> {
  const proc = spawn(COOPMUX, ['--host', '127.0.0.1', '--port', '0', ...args], {
    env: { ...process.env, RUST_LOG: 'info', ...env, PATH: `${path.dirname(COOPMUX)}:${process.env.PATH}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coopmux did not start:\n${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = output.match(/listening on (http:\/\/[0-9.:]+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`coopmux exited with ${code}:\n${output}`));
    });
  });
  return {
    url,
    proc,
    log: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
