// The dashboard against a real mux and real `coopmux session` hosts: sessions, states, screens,
// keyboard and health scenarios, plus the focused terminal, launch dialog and screenshots.
import { test, expect, Page } from '@playwright/test';
import { startMux, startSession, api, endLaunched, Mux, Session } from './mux';

let mux: Mux;
const sessions: Session[] = [];

test.beforeAll(async () => {
  mux = await startMux([
    '--screen-poll-ms', '300',
    '--status-poll-ms', '300',
    '--health-check-ms', '500',
    '--max-health-failures', '2',
    '--launch', 'coopmux session -- bash --norc --noprofile',
  ]);
});
test.afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.stop()));
});
test.afterAll(async () => {
  await mux.stop();
});

function session(cmd?: string[], opts?: { id?: string; labels?: string[] }): Session {
  const s = startSession(mux, cmd, opts);
  sessions.push(s);
  return s;
}

const tile = (page: Page, id: string, state = '') =>
  page.getByRole('button', { name: new RegExp(`${id.slice(0, 8)}.*${state}`, 'i') });

/** Opens session `id`, waits until its terminal replayed, focuses it; returns its rows. */
async function focusTerminal(page: Page, id: string) {
  await tile(page, id).click();
  await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live');
  await page.locator('.overlay .xterm').click();
  return page.locator('.overlay .xterm-rows');
}

async function open(page: Page) {
  await page.goto(`${mux.url}/mux`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected');
}

test('sessions appear and disappear live, with header counts', async ({ page }) => {
  await open(page);
  const a = session(['bash', '--norc']);
  await expect(tile(page, a.id)).toBeVisible();
  await expect(page.getByTestId('session-count')).toHaveText('1 session');
  await expect(page.getByTestId('healthy-count')).toHaveText('1 healthy');
  const b = session(['bash', '--norc']);
  await expect(tile(page, b.id)).toBeVisible();
  await expect(page.getByTestId('session-count')).toHaveText('2 sessions');
  await b.stop(); // deregisters: session:offline
  await expect(tile(page, b.id)).toHaveCount(0);
  await expect(page.getByTestId('session-count')).toHaveText('1 session');
});

test('state badges follow the agent: idle, working, idle again', async ({ page }) => {
  const s = session(['bash', '--norc']);
  await open(page);
  await expect(tile(page, s.id, 'idle')).toBeVisible({ timeout: 15_000 });
  // Output that keeps flowing makes the session host report `working`.
  await api(mux, 'POST', `/api/v1/sessions/${s.id}/input`, { text: 'while :; do echo tick; sleep 0.2; done', enter: true });
  await expect(tile(page, s.id, 'working')).toBeVisible({ timeout: 15_000 });
  await api(mux, 'POST', `/api/v1/sessions/${s.id}/input/keys`, { keys: ['ctrl-c'] });
  await expect(tile(page, s.id, 'idle')).toBeVisible({ timeout: 15_000 });
  // The sidebar lists it with its state in upper case.
  await expect(page.locator('aside.sidebar .row', { hasText: 'IDLE' })).toHaveCount(1);
});

test('tile previews show the session screen with its colours', async ({ page }) => {
  const s = session(['sh', '-c', "printf '\\033[31mred-marker\\033[0m plain-marker\\n'; exec sleep 600"]);
  await open(page);
  const preview = tile(page, s.id).locator('.preview');
  await expect(preview).toContainText('plain-marker', { timeout: 15_000 });
  const red = preview.locator('span', { hasText: 'red-marker' });
  await expect(red).toHaveAttribute('style', /color:#cd3131/);
});

test('keyboard: Ctrl+B, click then Close, Esc, double-click then Esc', async ({ page }) => {
  const s = session(['bash', '--norc']);
  await open(page);
  const toggle = page.getByTitle('Toggle sidebar (Ctrl+B)');
  await expect(toggle).toHaveAttribute('aria-pressed', 'true');
  await page.keyboard.press('Control+b');
  await expect(toggle).toHaveAttribute('aria-pressed', 'false');
  await expect(page.locator('h1')).toBeVisible();
  await page.keyboard.press('Control+b');
  await expect(toggle).toHaveAttribute('aria-pressed', 'true');

  await tile(page, s.id).click();
  const close = page.getByRole('button', { name: 'Close' });
  await expect(close).toBeVisible();
  await expect(page).toHaveURL(new RegExp(`#${s.id}$`));
  await close.click();
  await expect(close).toHaveCount(0);
  await expect(page).not.toHaveURL(/#/);

  // Esc outside the terminal closes the overlay.
  await tile(page, s.id).click();
  await expect(close).toBeVisible();
  await page.locator('.overlay-head').click();
  await page.keyboard.press('Escape');
  await expect(close).toHaveCount(0);

  // A double-click opens the overlay (the second click lands on it); the terminal takes the
  // focus, so Esc goes to the program; Esc outside it closes the overlay.
  await tile(page, s.id).dblclick();
  await expect(close).toBeVisible();
  await page.locator('.overlay-head').click();
  await page.keyboard.press('Escape');
  await expect(tile(page, s.id)).toBeVisible();
});

test('Esc typed in the terminal reaches the program', async ({ page }) => {
  const s = session(['bash', '--norc']);
  await open(page);
  const rows = await focusTerminal(page, s.id);
  // `read -d` with Esc as the delimiter ends only if the Esc byte reaches bash.
  await page.keyboard.type("read -r -d $'\\e' x; echo got-esc-$?");
  await page.keyboard.press('Enter');
  await page.keyboard.type('abc');
  await page.keyboard.press('Escape');
  await expect(rows).toContainText('got-esc-0');
  await expect(page.getByRole('button', { name: 'Close' })).toBeVisible();
});

test('a killed session disappears after eviction', async ({ page }) => {
  const s = session(['bash', '--norc']);
  const keep = session(['bash', '--norc']);
  await open(page);
  await expect(tile(page, s.id)).toBeVisible();
  await s.kill(); // no deregistration: only the health checker notices
  await expect(tile(page, s.id)).toHaveCount(0, { timeout: 15_000 });
  await expect(tile(page, keep.id)).toBeVisible();
});

test('deep links open a session, also one that registers later', async ({ page }) => {
  const id = `late-${Date.now()}`;
  await page.goto(`${mux.url}/mux#${id}`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected');
  await expect(page.getByRole('button', { name: 'Close' })).toHaveCount(0);
  session(['bash', '--norc'], { id });
  await expect(page.getByRole('button', { name: 'Close' })).toBeVisible({ timeout: 10_000 });
  await expect(page.locator('.overlay .tile-sub')).toContainText(id.slice(0, 8));
});

test('focused terminal: typed output, tile preview, reload and socket loss without duplicates', async ({ page }, testInfo) => {
  const s = session(['bash', '--norc']);
  // Every per-session socket goes through a route the test can cut.
  const routes: { close: () => Promise<void> }[] = [];
  await page.routeWebSocket(/\/ws\/(?!mux)/, (ws) => {
    ws.connectToServer();
    routes.push(ws);
  });
  await open(page);
  const rows = await focusTerminal(page, s.id);
  await page.keyboard.type('echo hello-$RANDOM$RANDOM');
  await page.keyboard.press('Enter');
  await expect(rows).toContainText(/hello-\d{2,}/);
  const hello = (await rows.textContent())!.match(/hello-(\d{2,})/)![0];
  const count = async (text: string) => ((await rows.textContent()) ?? '').split(text).length - 1;
  expect(await count(hello)).toBe(1);
  await page.screenshot({ path: testInfo.outputPath('focused-session.png') });

  // The tile preview shows it too (the mux's cached screen).
  await page.getByRole('button', { name: 'Close' }).click();
  await expect(tile(page, s.id).locator('.preview')).toContainText(hello, { timeout: 10_000 });

  // Reload with the deep link: the scrollback replays exactly once.
  await tile(page, s.id).click();
  await page.reload();
  await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live', { timeout: 10_000 });
  await expect(rows).toContainText(hello);
  expect(await count(hello)).toBe(1);

  // Cut the page's socket; output written meanwhile arrives once after the reconnect.
  const before = routes.length;
  await routes[routes.length - 1].close();
  await api(mux, 'POST', `/api/v1/sessions/${s.id}/input`, { text: 'echo during-$((6*7))-x', enter: true });
  await expect.poll(() => routes.length).toBeGreaterThan(before);
  await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live');
  await expect(rows).toContainText('during-42-x');
  expect(await count('during-42-x')).toBe(1);
  expect(await count(hello)).toBe(1);
  await page.keyboard.type('echo after-$((7*6))-y');
  await page.keyboard.press('Enter');
  await expect(rows).toContainText('after-42-y');
});

test('launch from the dialog: a new tile within 3 s; hostile env names show the server error', async ({ page }) => {
  await open(page);
  const tiles = page.locator('.grid .tile[data-session]');
  const before = await tiles.count();
  await page.getByTitle('Launch new session').first().click();
  const dialog = page.getByRole('dialog', { name: 'Launch session' });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Preset').selectOption({ label: 'Empty' });
  await dialog.getByRole('button', { name: '+ Add' }).click();
  await dialog.getByLabel('Variable name').last().fill('LD_PRELOAD');
  await dialog.getByLabel('Value').last().fill('/tmp/evil.so');
  await dialog.getByRole('button', { name: 'Launch Session' }).click();
  await expect(dialog.getByRole('alert')).toContainText('LD_PRELOAD');
  await expect(dialog.getByRole('alert')).toContainText('400');

  await dialog.getByRole('button', { name: 'Remove' }).last().click();
  const ours = new Set((await api(mux, 'GET', '/api/v1/sessions')).map((s: { id: string }) => s.id));
  const started = Date.now();
  await dialog.getByRole('button', { name: 'Launch Session' }).click();
  await expect(dialog.getByRole('alert')).toContainText('Launched session');
  await expect(tiles).toHaveCount(before + 1, { timeout: 3_000 });
  const elapsed = Date.now() - started;
  test.info().annotations.push({ type: 'launch-to-tile-ms', description: String(elapsed) });
  // The dialog closed itself; reopened, it lists the launch as registered.
  await expect(dialog).toHaveCount(0);
  await page.getByTitle('Launch new session').first().click();
  await expect(dialog.locator('.launches li').first()).toHaveAttribute('data-state', 'registered');
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  // The launched host ends; the test's own sessions leave the grid.
  const list: { id: string }[] = await api(mux, 'GET', '/api/v1/sessions');
  for (const s of list.filter((s) => !ours.has(s.id))) await endLaunched(mux, s.id);
  for (const s of list.filter((s) => ours.has(s.id))) await api(mux, 'DELETE', `/api/v1/sessions/${s.id}`).catch(() => {});
});

test('screenshot: the grid with 6 sessions', async ({ page }, testInfo) => {
  const colours = [31, 32, 33, 34, 35, 36];
  for (const [i, c] of colours.entries()) {
    session(['sh', '-c', `printf '\\033[${c}magent ${i}\\033[0m: building step ${i}\\n'; exec bash --norc`], {
      labels: [`team=t${i % 2}`],
    });
  }
  await open(page);
  await expect(page.getByTestId('session-count')).toHaveText('6 sessions', { timeout: 10_000 });
  await expect(page.locator('.preview', { hasText: 'agent 5' })).toBeVisible({ timeout: 15_000 });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: testInfo.outputPath('grid-6-sessions.png') });
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(page.locator('h1')).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('grid-phone.png') });
});

test('credentials panel: add an account, set its key, see it healthy', async ({ page }) => {
  await open(page);
  await page.getByRole('button', { name: 'Credentials' }).click();
  const panel = page.getByRole('dialog', { name: 'Credentials' });
  await expect(panel).toBeVisible();
  const name = `e2e-${Date.now()}`;
  await panel.getByLabel('Account name').fill(name);
  await panel.getByLabel('Provider').selectOption({ label: 'openai' });
  await panel.getByRole('button', { name: 'Add account' }).click();
  const row = panel.locator(`li.account[data-account="${name}"]`);
  await expect(row).toBeVisible();
  await expect(row).not.toHaveAttribute('data-status', 'healthy');
  // A duplicate name is refused with the server's message.
  await panel.getByLabel('Account name').fill(name);
  await panel.getByRole('button', { name: 'Add account' }).click();
  await expect(panel.getByRole('alert')).toContainText(name);
  await row.getByLabel(`Key for ${name}`).fill('sk-e2e-not-a-real-key');
  await row.getByRole('button', { name: 'Set key' }).click();
  await expect(panel.locator(`li.account[data-account="${name}"]`)).toHaveAttribute('data-status', 'healthy');
  // The key never comes back to the page.
  await expect(panel).not.toContainText('sk-e2e-not-a-real-key');
  await page.keyboard.press('Escape');
  await expect(panel).toHaveCount(0);
});

test('dropping a file uploads it into the focused session and types its path', async ({ page }) => {
  const s = session(['bash', '--norc']);
  await open(page);
  const rows = await focusTerminal(page, s.id);
  await page.keyboard.type('cat ');
  const drop = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped-content-4711\n'], 'notes.txt', { type: 'text/plain' }));
    return dt;
  });
  await page.dispatchEvent('.overlay', 'drop', { dataTransfer: drop });
  // The uploaded path is typed after `cat `; Enter prints the file through the program.
  await expect(rows).toContainText(/cat \/\S*uploads\/notes\.txt/);
  await page.keyboard.press('Enter');
  await expect(rows).toContainText('dropped-content-4711');
});
