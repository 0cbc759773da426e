// Grid CPU and memory with 6 sessions printing 10 lines/s (issue 16 acceptance numbers).
import { test, expect } from '@playwright/test';
import { startMux, startSession, Mux, Session } from '../tests/mux';

let mux: Mux;
const sessions: Session[] = [];
test.beforeAll(async () => {
  mux = await startMux();
});
test.afterAll(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.stop()));
  await mux.stop();
});

test('6 sessions at 10 lines/s: TaskDuration over 10 s, JS heap after 60 s', async ({ page }) => {
  for (let i = 0; i < 6; i++) {
    sessions.push(startSession(mux, ['sh', '-c', `while :; do printf '\\033[3${i + 1}mline ${i}\\033[0m %s\\n' "$(date +%T.%N)"; sleep 0.1; done`]));
  }
  await page.goto(`${mux.url}/mux`);
  await expect(page.getByTestId('session-count')).toHaveText('6 sessions', { timeout: 30_000 });
  await expect(page.locator('.preview', { hasText: 'line 5 ' })).toBeVisible({ timeout: 30_000 });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () => Object.fromEntries(((await cdp.send('Performance.getMetrics')) as any).metrics.map((m: any) => [m.name, m.value]));
  const before = await metrics();
  const t0 = Date.now();
  await page.waitForTimeout(10_000);
  const after = await metrics();
  const secs = (Date.now() - t0) / 1000;
  const pct = (((after.TaskDuration - before.TaskDuration) / secs) * 100).toFixed(2);
  console.log(`BENCH grid 6x10 lines/s: TaskDuration ${((after.TaskDuration - before.TaskDuration) * 1000).toFixed(0)} ms over ${secs.toFixed(1)} s = ${pct} % of a core`);
  await page.waitForTimeout(50_000);
  await cdp.send('HeapProfiler.collectGarbage');
  const heap = await metrics();
  console.log(`BENCH grid 6x10 lines/s: JSHeapUsedSize after 60 s ${(heap.JSHeapUsedSize / 1e6).toFixed(2)} MB (total ${(heap.JSHeapTotalSize / 1e6).toFixed(2)} MB)`);
});
