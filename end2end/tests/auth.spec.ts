// With a token the dashboard asks for it once on the login page, then works on a cookie:
// no token ever appears in a URL the page requests (HTTP or WebSocket).
import { test, expect } from '@playwright/test';
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
    // Live data through the cookie-authenticated /ws/mux, and a terminal through /ws/{id}.
    const tile = page.getByRole('button', { name: /auth-e2e.*/ });
    await expect(tile).toBeVisible({ timeout: 10_000 });
    await tile.click();
    await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live');
    const cookies = await page.context().cookies();
    expect(cookies.some((c) => c.httpOnly)).toBe(true);
  } finally {
    await s.stop();
  }
  expect(urls.length).toBeGreaterThan(3);
  for (const u of urls) expect(u).not.toContain(TOKEN);
});
