import { test, expect } from '@playwright/test';
import { spawn } from 'node:child_process';
import { startMux, Mux, COOPMUX } from './mux';

let mux: Mux;
test.beforeAll(async () => {
  mux = await startMux();
});
test.afterAll(async () => {
  await mux.stop();
});

test('the dashboard renders on the server and hydrates', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${mux.url}/`);
  await expect(page).toHaveURL(/\/mux$/);
  await expect(page.locator('h1')).toHaveText('coopmux');
  // The count comes from the typed server function during server rendering.
  await expect(page.getByTestId('session-count')).toHaveText('0 sessions');

  // The indicator only turns "connected" once the WASM bundle opened /ws/mux.
  const conn = page.locator('.conn');
  await expect(conn).toHaveAttribute('data-state', 'connected');
  await expect(conn).toContainText('connected');

  // A control that only works with the hydrated bundle.
  const toggle = page.getByTitle('Toggle sidebar (Ctrl+B)');
  await expect(toggle).toHaveAttribute('aria-pressed', 'true');
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-pressed', 'false');
  await expect(page.locator('aside.sidebar')).toHaveClass(/collapsed/);
  expect(errors).toEqual([]);
});

test('the connection indicator retries when the mux goes away', async ({ page }) => {
  const own = await startMux();
  await page.goto(`${own.url}/mux`);
  const conn = page.locator('.conn');
  await expect(conn).toHaveAttribute('data-state', 'connected');
  await own.stop();
  await expect(conn).toHaveAttribute('data-state', 'retrying');
  await expect(conn).toContainText('disconnected — retrying');
});

test('bundles are served precompressed', async ({ request }) => {
  for (const path of ['/pkg/coopmux.wasm', '/pkg/coopmux.js', '/vendor/xterm.mjs']) {
    const res = await request.get(`${mux.url}${path}`, { headers: { 'accept-encoding': 'br' } });
    expect(res.status(), path).toBe(200);
    expect(res.headers()['content-encoding'], path).toBe('br');
  }
  const wasm = await request.get(`${mux.url}/pkg/coopmux.wasm`, { headers: { 'accept-encoding': 'identity' } });
  expect(wasm.headers()['content-type']).toBe('application/wasm');
  expect(wasm.headers()['content-encoding']).toBeUndefined();
});

test('the session count follows real session hosts live', async ({ page }) => {
  await page.goto(`${mux.url}/mux`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected');
  await expect(page.getByTestId('session-count')).toHaveText('0 sessions');
  // A real `coopmux session` registers itself with the mux named in COOP_MUX_URL.
  const host = spawn(COOPMUX, ['session', '--port', '0', '--', 'sh'], {
    env: { ...process.env, COOP_MUX_URL: mux.url },
    stdio: 'ignore',
  });
  try {
    await expect(page.getByTestId('session-count')).toHaveText('1 session');
  } finally {
    host.kill('SIGTERM');
  }
  // On SIGTERM the host deregisters, and the mux pushes session:offline.
  await expect(page.getByTestId('session-count')).toHaveText('0 sessions');
});
