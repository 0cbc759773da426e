// Test harness: starts a real `coopmux` (`COOPMUX_BIN`, else the release build) on a free
// loopback port.
import { expect } from '@playwright/test';
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

export const REPO = path.resolve(__dirname, '..', '..');
export const COOPMUX = process.env.COOPMUX_BIN ?? path.join(REPO, 'target', 'release', 'coopmux');

export interface Mux {
  url: string;
  proc: ChildProcess;
  log: () => string;
  stop: () => Promise<void>;
}

/** Starts `coopmux --port 0 …args` (or `port`: a hub restarted where its sessions expect it)
 * and resolves once it logs its address. */
export async function startMux(args: string[] = [], env: Record<string, string> = {}, port = 0): Promise<Mux> {
  const proc = spawn(COOPMUX, ['--host', '127.0.0.1', '--port', String(port), ...args], {
    // Each mux keeps its credentials in a fresh directory, never the developer's home.
    env: { ...process.env, RUST_LOG: 'info', COOP_MUX_STATE_DIR: mkdtempSync(path.join(tmpdir(), 'coopmux-e2e-')), ...env, PATH: `${path.dirname(COOPMUX)}:${process.env.PATH}` },
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

export interface Session {
  id: string;
  proc: ChildProcess;
  /** SIGTERM: the host deregisters itself. */
  stop: () => Promise<void>;
  /** SIGKILL: the host vanishes without a word; only the health checker notices. */
  kill: () => Promise<void>;
}

let sessionCounter = 0;

/** Starts a real `coopmux session` host running `cmd` that registers with `mux` as `id`. */
export function startSession(mux: Mux, cmd: string[] = ['bash', '--norc', '--noprofile'], opts: { id?: string; labels?: string[]; env?: Record<string, string>; args?: string[] } = {}): Session {
  // Random first: tiles show the first 8 characters, which must tell sessions apart.
  const id = opts.id ?? `${Math.random().toString(36).slice(2, 10).padEnd(8, '0')}-e2e-${++sessionCounter}`;
  const labels = (opts.labels ?? []).flatMap((l) => ['--label', l]);
  const proc = spawn(COOPMUX, ['session', '--port', '0', ...labels, ...(opts.args ?? []), '--', ...cmd], {
    // Its own directory: uploads land in `uploads/` beside the program, never in the repo.
    cwd: mkdtempSync(path.join(tmpdir(), 'coopmux-e2e-session-')),
    env: { ...process.env, COOP_MUX_URL: mux.url, COOP_MUX_SESSION_ID: id, PS1: '$ ', TERM: 'xterm-256color', ...opts.env },
    stdio: 'ignore',
  });
  const ended = (signal: NodeJS.Signals) => () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill(signal);
    });
  return { id, proc, stop: ended('SIGTERM'), kill: ended('SIGKILL') };
}

/** The mux's REST API, for arranging state the way an operator's script would. */
export async function api(mux: Mux, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${mux.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Ends a session the hub launched: its host would outlive the test and register with a later
 * test's hub that happens to get the same port. Its shell exits, then dismissing the exited
 * session shuts the host down. */
export async function endLaunched(mux: Mux, id: string): Promise<void> {
  await api(mux, 'POST', `/api/v1/sessions/${id}/input`, { text: 'exit', enter: true });
  await expect
    .poll(async () => (await api(mux, 'POST', '/api/v1/states', { ids: [id] }))[id]?.state, { timeout: 15_000 })
    .toBe('exited');
  await api(mux, 'POST', `/api/v1/sessions/${id}/dismiss`);
}
