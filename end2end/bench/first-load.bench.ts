// First load of the dashboard (issue 16 "Size"): every request the browser makes for `/mux`
// until the tiles show their sessions' text, then each of them fetched again with
// `Accept-Encoding: gzip` and with `gzip, br`; prints the bytes per asset and the totals.
// Prints numbers only: run it against the build to measure (precompressed or not).
import { test, expect } from '@playwright/test';
import { startMux, startSession, Mux, Session } from '../tests/mux';
import { report } from './transfer';

let mux: Mux;
const sessions: Session[] = [];
test.beforeAll(async () => {
  mux = await startMux();
});
test.afterAll(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.stop()));
  await mux.stop();
});

test('first load of /mux until the tiles show text: bytes per asset, gzip and br', async ({ page }) => {
  for (let i = 0; i < 3; i++) {
    sessions.push(startSession(mux, ['sh', '-c', `echo tile-text-${i}; exec sleep 600`]));
  }
  await expect
    .poll(async () => (await (await fetch(`${mux.url}/api/v1/sessions`)).json()).length, { timeout: 30_000 })
    .toBe(3);
  const urls: string[] = [];
  page.on('request', (req) => {
    // Assets only: the dashboard's POST calls are data, not part of the bundle.
    if (req.method() === 'GET' && req.url().startsWith(mux.url) && !urls.includes(req.url())) urls.push(req.url());
  });
  await page.goto(`${mux.url}/mux`);
  for (let i = 0; i < 3; i++) {
    await expect(page.locator('.preview', { hasText: `tile-text-${i}` })).toBeVisible({ timeout: 30_000 });
  }
  // The sockets are not assets.
  const assets = urls.filter((u) => !u.includes('/ws/') && !u.includes('/api/'));
  await report('first load', assets);
});
