import { test, expect } from '@playwright/test';
import { startMux, Mux } from './mux';

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
  await expect(page.locator('aside.sidebar')).toBeHidden();
  expect(errors).toEqual([]);
});

test('an xterm.js terminal renders from the vendored module', async ({ page }) => {
  await page.goto(`${mux.url}/mux`);
  const term = page.locator('.terminal-host .xterm');
  await expect(term).toBeVisible();
  await expect(page.locator('.terminal-host .xterm-rows')).toContainText('coopmux terminal ready');
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
