// A hostile page in the operator's browser (docs/security.md, "Web pages"): served from a second
// loopback origin, it tries every request a page can send without a CORS grant — form, text and
// JSON launches, server functions, typing into a session host, WebSockets to the hub and to the
// host — and a DNS-rebinding name that resolves to the hub. Nothing may launch, type or connect.
import { test, expect, chromium } from '@playwright/test';
import { spawn, ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { AddressInfo } from 'node:net';
import { startMux, api, Mux, COOPMUX } from './mux';

const work = mkdtempSync(path.join(tmpdir(), 'coopmux-e2e-attack-'));
const launchMarker = path.join(work, 'launched');
const typedMarker = path.join(work, 'typed');
const legitMarker = path.join(work, 'legit');

let mux: Mux;
let host: { url: string; proc: ChildProcess };
let attacker: http.Server;
let attackerUrl: string;

/** Starts a token-less `coopmux session -- sh` (not registered) and reads its URL. */
function startHost(): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(COOPMUX, ['session', '--port', '0', '--', 'sh'], {
    cwd: work,
    env: { ...process.env, COOP_MUX_URL: '', PS1: '$ ' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = out.match(/(http:\/\/[0-9.:]+)/);
      if (m) resolve({ url: m[1], proc });
    });
    proc.on('exit', (code) => reject(new Error(`session host exited with ${code}: ${out}`)));
  });
}

/** The attacking page: every attempt reports what happened in `window.results`. */
function attackPage(muxUrl: string, hostUrl: string): string {
  const wsMux = muxUrl.replace('http', 'ws');
  const wsHost = hostUrl.replace('http', 'ws');
  return `<!DOCTYPE html><html><body>
<iframe name="sink"></iframe>
<form id="form" method="post" action="${muxUrl}/api/v1/sessions/launch" target="sink"
      enctype="application/x-www-form-urlencoded"><input name="env" value="x"></form>
<script>
const results = {};
const done = (k, v) => { results[k] = v; };
const attempt = (k, p) => p.then((r) => done(k, 'sent:' + (r.type || r.status)), (e) => done(k, 'error'));
document.getElementById('form').submit();
attempt('text-launch', fetch('${muxUrl}/api/v1/sessions/launch', { method: 'POST', mode: 'no-cors',
  headers: { 'content-type': 'text/plain' }, body: '{}' }));
attempt('form-empty-launch', fetch('${muxUrl}/api/v1/sessions/launch', { method: 'POST', mode: 'no-cors',
  headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' }));
attempt('fn-launch', fetch('${muxUrl}/api/fn/launch', { method: 'POST', mode: 'no-cors',
  headers: { 'content-type': 'text/plain' }, body: '{"env":{"X":"1"}}' }));
attempt('json-launch', fetch('${muxUrl}/api/v1/sessions/launch', { method: 'POST',
  headers: { 'content-type': 'application/json' }, body: '{}' }));
attempt('host-input', fetch('${hostUrl}/api/v1/input', { method: 'POST', mode: 'no-cors',
  headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ text: 'touch ${typedMarker}', enter: true }) }));
const socket = (k, url) => new Promise((resolve) => {
  const ws = new WebSocket(url);
  ws.onopen = () => { done(k, 'open'); ws.send(JSON.stringify({ event: 'input:send', text: 'touch ${typedMarker}', enter: true })); resolve(); };
  ws.onerror = () => { if (!(k in results)) done(k, 'refused'); resolve(); };
});
Promise.all([socket('ws-mux', '${wsMux}/ws/mux'), socket('ws-host', '${wsHost}/ws?subscribe=pty')])
  .then(() => { window.socketsDone = true; });
window.results = results;
</script></body></html>`;
}

test.beforeAll(async () => {
  mux = await startMux(['--launch', `touch ${launchMarker}`]);
  host = await startHost();
  attacker = http.createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(attackPage(mux.url, host.url));
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`;
});

test.afterAll(async () => {
  attacker?.close();
  host?.proc.kill('SIGTERM');
  await mux?.stop();
});

test('a page on another origin cannot launch, type or connect', async ({ page }) => {
  const formAnswer = page.waitForResponse((r) => r.url().endsWith('/api/v1/sessions/launch') && r.request().method() === 'POST' && r.request().postData() === 'env=x');
  await page.goto(attackerUrl);
  expect((await formAnswer).status()).toBe(403);
  await page.waitForFunction(() => {
    const r = (window as any).results;
    return (window as any).socketsDone && ['text-launch', 'form-empty-launch', 'fn-launch', 'json-launch', 'host-input'].every((k) => k in r);
  });
  const results = await page.evaluate(() => (window as any).results);
  expect(results['ws-mux']).toBe('refused');
  expect(results['ws-host']).toBe('refused');
  // The CORS preflight of the JSON launch is never granted.
  expect(results['json-launch']).toBe('error');

  // The launch command writes a marker: no launch was recorded and none ran.
  expect(await api(mux, 'GET', '/api/v1/launches')).toEqual([]);
  expect(existsSync(launchMarker)).toBe(false);

  // The shell runs input in order: once a legitimate command typed after the attack has run,
  // an attacking command that had reached the terminal would have run too.
  const res = await fetch(`${host.url}/api/v1/input`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: `touch ${legitMarker}`, enter: true }),
  });
  expect(res.status).toBe(200);
  await expect.poll(() => existsSync(legitMarker)).toBe(true);
  expect(existsSync(typedMarker)).toBe(false);
});

test('a rebinding name that resolves to the hub gets 403, page and API alike', async () => {
  const port = new URL(mux.url).port;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', `--host-resolver-rules=MAP rebind.test 127.0.0.1`],
  });
  try {
    const page = await browser.newPage();
    const answer = await page.goto(`http://rebind.test:${port}/api/v1/sessions`);
    expect(answer!.status()).toBe(403);
    expect(await answer!.text()).toContain('not allowed');
    const ws = await page.evaluate(
      (url) => new Promise((resolve) => { const s = new WebSocket(url); s.onopen = () => resolve('open'); s.onerror = () => resolve('refused'); }),
      `ws://rebind.test:${port}/ws/mux`,
    );
    expect(ws).toBe('refused');
  } finally {
    await browser.close();
  }
});
