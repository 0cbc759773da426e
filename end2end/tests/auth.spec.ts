// With a token the dashboard asks for it once on the login page, then works on a login the
// page keeps in its own origin's storage and sends itself: no token ever appears in a URL the
// page requests (HTTP or WebSocket), there is no cookie, and a server on another port of the
// same host (a dev server the operator opens) receives nothing that authenticates.
import { test, expect } from '@playwright/test';
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import { AddressInfo } from 'node:net';
import { startMux, startSession, Mux } from './mux';

const TOKEN = `e2e-token-${Math.random().toString(36).slice(2)}`;
let mux: Mux;

test.beforeAll(async () => {
  mux = await startMux(['--auth-token', TOKEN]);
});
test.afterAll(async () => {
  await mux.stop();
});

test('login page, then the dashboard; no token in any URL', async ({ page }) => {
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  page.on('websocket', (ws) => urls.push(ws.url()));
  const s = startSession(mux, ['bash', '--norc'], { id: 'auth-e2e-session', env: { COOP_MUX_TOKEN: TOKEN } });
  try {
    await page.goto(`${mux.url}/mux`);
    await expect(page).toHaveURL(/\/mux\/login$/);
    // Styled like the dashboard (its stylesheet needs a login), with the icon.
    await expect(page.locator('main')).toHaveCSS('background-color', 'rgb(23, 26, 33)');
    await expect(page.locator('link[rel="icon"]')).toHaveAttribute('href', '/favicon.ico');
    expect((await page.request.get(`${mux.url}/favicon.ico`)).status()).toBe(200);
    await page.getByLabel('Token').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page).toHaveURL(/\/mux\/login$/);
    await page.getByLabel('Token').fill(TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page).toHaveURL(/\/mux$/);
    await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected');
    // Live data through /ws/mux, and a terminal through /ws/{id}, on the stored login.
    const tile = page.getByRole('button', { name: /auth-e2e.*/ });
    await expect(tile).toBeVisible({ timeout: 10_000 });
    await tile.click();
    await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live');
    await page.keyboard.press('Control+Shift+L');
    // A typed server function (the credentials panel's) carries the login too.
    await page.getByRole('button', { name: 'Credentials' }).click();
    const panel = page.getByRole('dialog', { name: 'Credentials' });
    await panel.getByLabel('Account name').fill('auth-e2e');
    await panel.getByLabel('Provider').selectOption({ label: 'openai' });
    await panel.getByRole('button', { name: 'Add account' }).click();
    await expect(panel.locator('li.account[data-account="auth-e2e"]')).toBeVisible();
    expect(await page.context().cookies()).toEqual([]);
    const login = await page.evaluate(() => localStorage.getItem('coopmux.login'));
    expect(login).toMatch(/^[0-9a-f]{64}$/);
  } finally {
    await s.stop();
  }
  expect(urls.length).toBeGreaterThan(3);
  for (const u of urls) expect(u).not.toContain(TOKEN);
});

/** What a server received from the browser. */
interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A development server on another loopback port that logs everything the browser sends it
 * (pages, fetches with credentials, a WebSocket handshake). */
async function devServer(): Promise<{ url: string; received: Received[]; close: () => void }> {
  const received: Received[] = [];
  const page = `<!DOCTYPE html><html><body><script>
    fetch('/api/data', { method: 'POST', credentials: 'include', body: 'x' }).then(() => { window.fetched = true; });
    const ws = new WebSocket('ws://' + location.host + '/ws');
    ws.onerror = ws.onclose = () => { window.socketTried = true; };
  </script></body></html>`;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(page);
    });
  });
  server.on('upgrade', (req, socket) => {
    received.push({ method: req.method!, url: req.url!, headers: req.headers, body: '' });
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received, close: () => server.close() };
}

/** The headers of `r` a script can replay (not those naming the connection or the page). */
function replayable(r: Received): Record<string, string> {
  const skip = /^(host|origin|referer|content-length|connection|upgrade|sec-websocket-(key|version|extensions)|sec-fetch-.*)$/;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) {
    if (!skip.test(k) && v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** Status of a plain request (Node's http: it sends every header as given, `cookie` too). */
function send(method: string, url: string, headers: Record<string, string>, body = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode!); });
    req.on('error', reject);
    req.end(body);
  });
}

/** Status of a WebSocket handshake to `url` with `headers` (101 when it opened). */
function handshake(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      headers: {
        ...headers,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
      },
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode!); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode!); });
    req.on('error', reject);
    req.end();
  });
}

test('a server on another port of the host receives nothing that authenticates', async ({ page }) => {
  const dev = await devServer();
  try {
    // The operator logs in through the real login page.
    await page.goto(`${mux.url}/mux`);
    await expect(page).toHaveURL(/\/mux\/login$/);
    await page.getByLabel('Token').fill(TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected');
    const login = await page.evaluate(() => localStorage.getItem('coopmux.login'));

    // Then opens a dev server on another port of 127.0.0.1 in the same browser.
    await page.goto(dev.url);
    await page.waitForFunction(() => (window as any).fetched && (window as any).socketTried);
    expect(dev.received.length).toBeGreaterThanOrEqual(3);

    // Replaying everything it received against the hub opens nothing.
    for (const r of dev.received) {
      const headers = replayable(r);
      expect(await send('GET', `${mux.url}/api/v1/sessions`, headers)).toBe(401);
      const json = { ...headers, 'content-type': 'application/json' };
      expect(await send('POST', `${mux.url}/api/v1/sessions/launch`, json, '{}')).toBe(401);
      expect(await handshake(`${mux.url}/ws/mux`, headers)).not.toBe(101);
    }
    // The login the page keeps never reached it.
    expect(login).toBeTruthy();
    for (const r of dev.received) {
      const seen = JSON.stringify(r);
      expect(seen).not.toContain(login!);
      expect(seen).not.toContain(TOKEN);
    }

    // Back on the hub the dashboard still works on the stored login.
    await page.goto(`${mux.url}/mux`);
    await expect(page).toHaveURL(/\/mux$/);
    await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected');
  } finally {
    dev.close();
  }
});
