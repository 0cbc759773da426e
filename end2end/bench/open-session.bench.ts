// Opening a session (issue 25: first-load savings must not make it slower): from the click on
// a tile until its terminal shows the session's text, measured in the page. Each round is a
// fresh browser context (nothing cached), loaded until the tiles show text, as an operator
// opens a session right after the page came up; then the same session is closed and opened
// again in that page (its code already loaded). Prints each round, the median and the bytes
// fetched for the first open. Numbers only: compare runs of two builds side by side.
import { test, expect, Browser, Page } from '@playwright/test';
import { startMux, startSession, Mux, Session } from '../tests/mux';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

let mux: Mux;
const sessions: Session[] = [];
test.beforeAll(async () => {
  mux = await startMux();
});
test.afterAll(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.stop()));
  await mux.stop();
});

/** In the page: clicks the tile of `id` and resolves with the milliseconds until the
 *  focused terminal's rows contain `marker`. */
function clickUntilText(page: Page, id: string, marker: string): Promise<number> {
  return page.evaluate(
    ({ id, marker }) =>
      new Promise<number>((resolve) => {
        const tile = document.querySelector<HTMLElement>(`.grid .tile[data-session="${id}"]`)!;
        const t0 = performance.now();
        tile.click();
        const check = () => {
          const rows = document.querySelector('.overlay .xterm-rows');
          if (rows && rows.textContent!.includes(marker)) resolve(performance.now() - t0);
          else requestAnimationFrame(check);
        };
        check();
      }),
    { id, marker },
  );
}

async function loaded(browser: Browser, id: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  let bytes = 0;
  page.on('requestfinished', async (req) => {
    const sizes = await req.sizes();
    bytes += sizes.responseBodySize + sizes.responseHeadersSize;
  });
  await page.goto(`${mux.url}/mux`);
  await expect(page.locator(`.tile[data-session="${id}"] .preview`)).toContainText('open-bench-line-99', { timeout: 30_000 });
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected');
  const before = bytes;
  return { context, page, fetched: () => bytes - before };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

test('opening a session: click on its tile until the terminal shows its text', async ({ browser }) => {
  const s = startSession(mux, ['sh', '-c', 'for i in $(seq 0 99); do echo open-bench-line-$i; done; exec sleep 600']);
  sessions.push(s);
  await expect.poll(async () => (await (await fetch(`${mux.url}/api/v1/sessions`)).json()).length, { timeout: 30_000 }).toBe(1);
  const first: number[] = [];
  const again: number[] = [];
  let fetched = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const { context, page, fetched: bytes } = await loaded(browser, s.id);
    first.push(await clickUntilText(page, s.id, 'open-bench-line-99'));
    // Responses of the open (lazy chunk, xterm.js) have all arrived once the text shows.
    fetched = bytes();
    await page.keyboard.press('Control+Shift+L');
    await expect(page.locator('.overlay')).toHaveCount(0);
    again.push(await clickUntilText(page, s.id, 'open-bench-line-99'));
    await context.close();
  }
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  console.log(`BENCH open session, first open after load: median ${median(first).toFixed(0)} ms (rounds: ${fmt(first)})`);
  console.log(`BENCH open session, opened again: median ${median(again).toFixed(0)} ms (rounds: ${fmt(again)})`);
  console.log(`BENCH open session, bytes fetched by the first open (bodies as sent + response headers): ${fetched}`);
});
