// Operating the fleet from the dashboard (issue 16): a hub restart under a focused session,
// launches that fail, exited sessions, the disconnected state, the inspector, keyboard-only
// use, loading, credential alerts, the phone drawer, the filter — against a real mux and real
// `coopmux session` hosts.
import { test, expect, Page } from '@playwright/test';
import { startMux, startSession, api, endLaunched, Mux, Session } from './mux';

const sessions: Session[] = [];
const muxes: Mux[] = [];
test.afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.stop()));
  await Promise.all(muxes.splice(0).map((m) => m.stop()));
});

async function hub(args: string[] = [], port = 0): Promise<Mux> {
  const mux = await startMux(['--screen-poll-ms', '300', '--status-poll-ms', '300', ...args], {}, port);
  muxes.push(mux);
  return mux;
}

/** Stops `mux` (the page sees the hub go) and starts another on the same port. */
async function restart(mux: Mux, args: string[] = []): Promise<Mux> {
  await mux.stop();
  muxes.splice(muxes.indexOf(mux), 1);
  return hub(args, Number(new URL(mux.url).port));
}

function session(mux: Mux, cmd?: string[], opts?: Parameters<typeof startSession>[2]): Session {
  const s = startSession(mux, cmd, opts);
  sessions.push(s);
  return s;
}

/** Uncaught page errors, collected for the whole test. */
function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

const tile = (page: Page, id: string) => page.locator(`.grid .tile[data-session="${id}"]`);
const row = (page: Page, id: string) => page.locator(`aside.sidebar .row[data-session="${id}"]`);
const rows = (page: Page) => page.locator('.overlay .xterm-rows');
const tileOrder = (page: Page) =>
  page.locator('.grid .tile[data-session]').evaluateAll((els) => els.map((e) => e.getAttribute('data-session')));

async function open(page: Page, mux: Mux, hash = '') {
  await page.goto(`${mux.url}/mux${hash}`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected');
}

/** A section of the inspector shows an answer: its fields, or the session's error. */
async function answered(section: ReturnType<Page['locator']>) {
  await expect(section.locator('dl, .error')).toHaveCount(1, { timeout: 15_000 });
  await expect(section.locator('.error', { hasText: /^(no answer|not connected)/ })).toHaveCount(0);
}

async function openSession(page: Page, id: string) {
  await tile(page, id).click();
  await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
}

test('a hub restart keeps the focused session open and resumes its output', async ({ page }) => {
  const errors = pageErrors(page);
  let mux = await hub();
  // A heartbeat slower than the page's reconnect: the session is missing from the first
  // snapshot of the restarted hub.
  const s = session(mux, ['bash', '--norc'], { args: ['--heartbeat-ms', '4000'] });
  await open(page, mux);
  await openSession(page, s.id);
  await api(mux, 'POST', `/api/v1/sessions/${s.id}/input`, { text: 'echo before-$((6*7))', enter: true });
  await expect(rows(page)).toContainText('before-42');

  await mux.stop();
  await expect(page.getByTestId('session-offline')).toHaveText('session offline — waiting');
  mux = await restart(mux);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected', { timeout: 15_000 });
  // Still open, still linked, while the session has not registered again.
  await expect(page).toHaveURL(new RegExp(`#${s.id}$`));
  await expect(page.locator('.overlay')).toBeVisible();
  await expect(page.getByTestId('session-offline')).toHaveCount(0, { timeout: 15_000 });
  await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
  await api(mux, 'POST', `/api/v1/sessions/${s.id}/input`, { text: 'echo after-$((7*7))', enter: true });
  await expect(rows(page)).toContainText('after-49');
  // Resumed from its offset: what was shown before is there once.
  expect(((await rows(page).textContent()) ?? '').split('before-42').length - 1).toBe(1);
  expect(errors).toEqual([]);
});

test('a launch that fails keeps the dialog open with its exit code and coloured output', async ({ page }) => {
  const mux = await hub(['--launch', "printf '\\033[31mboom-red\\033[0m plain-tail\\n'; exit 7"]);
  await open(page, mux);
  await page.getByTitle('Launch new session').first().click();
  const dialog = page.getByRole('dialog', { name: 'Launch session' });
  await dialog.getByRole('button', { name: 'Launch Session' }).click();
  await expect(dialog.getByRole('alert')).toContainText('Launch failed (exit code 7)');
  const failure = dialog.getByTestId('launch-failure');
  await expect(failure).toContainText('boom-red plain-tail');
  await expect(failure.locator('span', { hasText: 'boom-red' })).toHaveAttribute('style', /color:#cd3131/);
  await expect(failure).not.toContainText('[31m');
  // It stays open: no "Launched", and the recent launch lists the failure with its time.
  await page.waitForTimeout(2_000);
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole('alert')).not.toContainText('Launched');
  const recent = dialog.locator('.launches li').first();
  await expect(recent).toHaveAttribute('data-state', 'failed');
  await expect(recent.locator('time')).toHaveText(/^\d\d:\d\d:\d\d$/);
});

test('a successful launch links its session from the recent launches', async ({ page }) => {
  const mux = await hub(['--launch', 'coopmux session -- bash --norc --noprofile']);
  await open(page, mux);
  await page.getByTitle('Launch new session').first().click();
  const dialog = page.getByRole('dialog', { name: 'Launch session' });
  await dialog.getByRole('button', { name: 'Launch Session' }).click();
  await expect(dialog.getByRole('alert')).toContainText('Launched session', { timeout: 15_000 });
  await expect(dialog).toHaveCount(0);
  const [launched] = await api(mux, 'GET', '/api/v1/sessions');
  await page.getByTitle('Launch new session').first().click();
  const link = dialog.locator('.launches li').first().getByRole('link');
  await expect(link).toHaveText(launched.id.slice(0, 8));
  await link.click();
  await expect(dialog).toHaveCount(0);
  await expect(page).toHaveURL(new RegExp(`#${launched.id}$`));
  await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
  await endLaunched(mux, launched.id);
  await expect.poll(async () => (await api(mux, 'GET', '/api/v1/sessions')).length).toBe(0);
});

test('an exited session keeps its tile with the last screen and exit code until dismissed', async ({ page }) => {
  const mux = await hub();
  // The host keeps answering after its child exited (as coop does).
  const s = session(mux, ['sh', '-c', 'echo goodbye-marker; sleep 1; exit 3']);
  await open(page, mux);
  const t = tile(page, s.id);
  await expect(t.locator('.badge')).toHaveText('EXITED', { timeout: 15_000 });
  await expect(t.getByTestId('exit-code')).toHaveText('exit 3');
  await expect(t.locator('.preview')).toContainText('goodbye-marker');
  await page.waitForTimeout(1_000);
  await expect(t).toBeVisible();
  await t.getByRole('button', { name: 'Dismiss' }).click();
  await expect(t).toHaveCount(0);
  await expect.poll(async () => (await api(mux, 'GET', '/api/v1/sessions')).length).toBe(0);
  // The host was shut down, not just forgotten.
  await expect.poll(() => s.proc.exitCode ?? s.proc.signalCode).not.toBeNull();
});

test('disconnected: a banner, grey tiles, no launch; after the reconnect every state at once, same order', async ({ page }) => {
  let mux = await hub(['--launch', 'true']);
  // Heartbeats of different lengths: after the restart the sessions register again in the
  // reverse order.
  const ids: string[] = [];
  for (const beat of ['3000', '1500', '400']) {
    const s = session(mux, ['bash', '--norc'], { args: ['--heartbeat-ms', beat] });
    await expect.poll(async () => (await api(mux, 'GET', '/api/v1/sessions')).length).toBe(ids.length + 1);
    ids.push(s.id);
  }
  await open(page, mux);
  for (const id of ids) await expect(tile(page, id).locator('.badge')).toHaveText('IDLE', { timeout: 15_000 });
  expect(await tileOrder(page)).toEqual(ids);
  await expect(page.getByTestId('disconnected')).toHaveCount(0);

  await mux.stop();
  const banner = page.getByTestId('disconnected');
  await expect(banner).toContainText('Disconnected from the hub');
  await expect(page.locator('.layout')).toHaveClass(/offline/);
  await expect(tile(page, ids[0])).toHaveCSS('filter', 'grayscale(1)');
  await expect(page.locator('.new-session')).toBeDisabled();
  await expect(page.locator('.launch-card')).toBeDisabled();

  mux = await restart(mux, ['--launch', 'true']);
  await expect(banner).toHaveCount(0, { timeout: 15_000 });
  await expect(page.locator('.new-session')).toBeEnabled();
  for (const id of ids) await expect(tile(page, id).locator('.badge')).toHaveText('IDLE', { timeout: 15_000 });
  await expect(page.getByTestId('healthy-count')).toHaveText('3 healthy');
  expect(await tileOrder(page)).toEqual(ids);
});

test('inspector: hidden by default, resizable, state and actions reach the session', async ({ page }) => {
  const mux = await hub();
  // Signals go to the program's process group: a program that reports them.
  const s = session(mux, ['sh', '-c', 'trap "echo got-INT" INT; while :; do sleep 0.2; done']);
  await open(page, mux);
  await openSession(page, s.id);
  const inspector = page.getByRole('complementary', { name: 'Inspector' });
  await expect(inspector).toHaveCount(0);
  const terminalWidth = (await page.locator('.terminal-host').boundingBox())!.width;
  await page.getByRole('button', { name: 'Inspector' }).click();
  await expect(inspector).toBeVisible();
  expect((await page.locator('.terminal-host').boundingBox())!.width).toBeLessThan(terminalWidth);

  // State, read live from the session; what the host does not support shows its error.
  await expect(inspector.locator('[data-section="health"]')).toContainText('running');
  await expect(inspector.locator('[data-section="status"]')).toContainText(s.id);
  await expect(inspector.locator('[data-section="agent"]')).toContainText('idle', { timeout: 15_000 });
  // `usage:get` is coop's; a host without it answers an error, shown in place.
  await answered(inspector.locator('[data-section="usage"]'));

  // Resizable with the keyboard (and the mouse): wider by two steps.
  const before = (await inspector.boundingBox())!.width;
  const edge = page.getByRole('separator', { name: 'Resize inspector' });
  await edge.focus();
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await expect.poll(async () => Math.round((await inspector.boundingBox())!.width - before)).toBe(40);
  const box = (await edge.boundingBox())!;
  await page.mouse.move(box.x + 2, box.y + 50);
  await page.mouse.down();
  await page.mouse.move(box.x - 58, box.y + 50);
  await page.mouse.up();
  // The edge follows the pointer (within the handle's own width).
  await expect.poll(async () => Math.abs((await inspector.boundingBox())!.width - before - 100)).toBeLessThan(8);

  // Actions: text, a signal, a resize, keys.
  await inspector.getByRole('tab', { name: 'actions' }).click();
  await inspector.getByLabel('Text').fill('typed-by-inspector');
  await inspector.getByRole('button', { name: 'Type', exact: true }).click();
  await expect(inspector.getByRole('status')).toContainText('text: {"bytes_written"');
  await expect(rows(page)).toContainText('typed-by-inspector');
  await inspector.getByRole('button', { name: 'INT', exact: true }).click();
  await expect(inspector.getByRole('status')).toContainText('"signal":"SIGINT"');
  await expect(rows(page)).toContainText('got-INT');
  await inspector.getByLabel('Columns').fill('91');
  await inspector.getByLabel('Rows').fill('23');
  await inspector.getByRole('button', { name: 'Resize' }).click();
  await expect(inspector.getByRole('status')).toContainText('"cols":91');
  await inspector.getByLabel('Keys').fill('ctrl-c');
  await inspector.getByRole('button', { name: 'Send keys' }).click();
  await expect(inspector.getByRole('status')).toContainText('keys: {"bytes_written":1');
  // Nudging needs an agent driver: a plain command answers with the session's error.
  await inspector.getByRole('button', { name: 'Nudge', exact: true }).click();
  await expect(inspector.getByRole('status')).toContainText(/^nudge failed: \d{3} /);

  // Hidden again: the terminal gets its width back.
  await page.getByRole('button', { name: 'Inspector' }).click();
  await expect(inspector).toHaveCount(0);
});

test('inspector config: profiles and switch, restart, shutdown after a confirmation', async ({ page }) => {
  const mux = await hub();
  const s = session(mux, ['bash', '--norc']);
  await expect.poll(async () => (await api(mux, 'GET', '/api/v1/sessions')).length).toBe(1);
  const [info] = await api(mux, 'GET', '/api/v1/sessions');
  const res = await fetch(`${info.url}/api/v1/session/profiles`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ profiles: [{ name: 'first', credentials: { K: 'a' } }, { name: 'second', credentials: { K: 'b' } }] }),
  });
  expect(res.status).toBe(200);
  await open(page, mux);
  await openSession(page, s.id);
  await page.getByRole('button', { name: 'Inspector' }).click();
  const inspector = page.getByRole('complementary', { name: 'Inspector' });
  await inspector.getByRole('tab', { name: 'config' }).click();
  const profiles = inspector.locator('[data-section="profiles"]');
  await expect(profiles.locator('.profile.active')).toContainText('first');
  await profiles.locator('.profile', { hasText: 'second' }).getByRole('button', { name: 'Switch' }).click();
  await expect(inspector.getByRole('status')).toHaveText('switch: done');
  await expect(profiles.locator('.profile.active')).toContainText('second');
  // Stop and start config, transcripts: the session's answer, or its error, in place.
  for (const section of ['stop config', 'start config', 'transcripts']) {
    await answered(inspector.locator(`[data-section="${section}"]`));
  }
  await inspector.getByRole('button', { name: 'Restart' }).click();
  await expect(inspector.getByRole('status')).toContainText(/^restart(: done| failed: \d{3} )/);

  await inspector.getByRole('button', { name: 'Shut down…' }).click();
  const confirm = inspector.getByRole('alertdialog', { name: 'Confirm shutdown' });
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(confirm).toHaveCount(0);
  expect((await api(mux, 'GET', '/api/v1/sessions')).length).toBe(1);
  await inspector.getByRole('button', { name: 'Shut down…' }).click();
  await confirm.getByRole('button', { name: 'Shut down' }).click();
  await expect(page.locator('.overlay')).toHaveCount(0);
  await expect(tile(page, s.id)).toHaveCount(0, { timeout: 15_000 });
  await expect.poll(() => s.proc.exitCode ?? s.proc.signalCode).not.toBeNull();
});

test('keyboard only: sidebar rows are buttons, a key leaves the terminal, keys move between sessions', async ({ page }) => {
  const mux = await hub();
  const a = session(mux, ['bash', '--norc']);
  await expect.poll(async () => (await api(mux, 'GET', '/api/v1/sessions')).length).toBe(1);
  const b = session(mux, ['bash', '--norc']);
  await open(page, mux);
  await expect(row(page, b.id)).toBeVisible();
  // Tab reaches the sidebar rows.
  let reached = '';
  for (let i = 0; i < 12 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => (document.activeElement?.closest('aside.sidebar .row') as HTMLElement | null)?.dataset.session ?? '');
  }
  expect([a.id, b.id]).toContain(reached);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`#${reached}$`));
  await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
  // The terminal has the keyboard: typing goes to the program.
  await page.keyboard.type('echo kb-$((3*3))');
  await page.keyboard.press('Enter');
  await expect(rows(page)).toContainText('kb-9');
  const close = page.getByRole('button', { name: 'Close' });
  await expect(close).toHaveAttribute('title', /Ctrl\+Shift\+L/);
  // The documented key leaves the terminal and puts the focus on the session's tile.
  await page.keyboard.press('Control+Shift+L');
  await expect(page.locator('.overlay')).toHaveCount(0);
  await expect(tile(page, reached)).toBeFocused();
  // Next / previous session, also from inside a terminal.
  await page.keyboard.press('Control+Shift+ArrowDown');
  const first = page.url().split('#')[1];
  expect([a.id, b.id]).toContain(first);
  await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
  await page.keyboard.press('Control+Shift+ArrowDown');
  await expect(page).toHaveURL(new RegExp(`#${first === a.id ? b.id : a.id}$`));
  await page.keyboard.press('Control+Shift+ArrowUp');
  await expect(page).toHaveURL(new RegExp(`#${first}$`));
  await page.keyboard.press('Control+Shift+L');
  await expect(tile(page, first)).toBeFocused();
  // "/" goes to the filter.
  await page.keyboard.press('/');
  await expect(page.getByRole('searchbox', { name: 'Filter sessions' })).toBeFocused();
});

test('loading: the cached screen under a progress bar until the replay; a blank replay paints /screen', async ({ page }) => {
  const mux = await hub();
  // Five megabytes of NUL after the text: the 4 MiB output log holds only blanks, the
  // screen still shows the text.
  const s = session(mux, ['sh', '-c', "printf 'SCREEN-MARK-7\\n'; head -c 5000000 /dev/zero; exec sleep 600"]);
  let hold = true;
  const held: { close: () => Promise<void> }[] = [];
  await page.routeWebSocket(/\/ws\/(?!mux)/, (ws) => {
    if (hold) {
      held.push(ws);
      return;
    }
    ws.connectToServer();
  });
  await open(page, mux);
  await expect(tile(page, s.id).locator('.preview')).toContainText('SCREEN-MARK-7', { timeout: 15_000 });
  await tile(page, s.id).click();
  const loading = page.getByRole('status', { name: 'Loading session' });
  await expect(loading).toBeVisible();
  await expect(loading.locator('.progress')).toBeVisible();
  await expect(loading).toContainText('SCREEN-MARK-7');
  // The terminal connects once its code and xterm.js are loaded (on demand).
  await expect.poll(() => held.length, { timeout: 15_000 }).toBeGreaterThan(0);
  hold = false;
  await held[0].close();
  await expect(loading).toHaveCount(0, { timeout: 15_000 });
  await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live');
  await expect(rows(page)).toContainText('SCREEN-MARK-7', { timeout: 15_000 });
});

test('credential alerts come from the accounts on page load; an expired key reads expired', async ({ page }) => {
  const mux = await hub();
  await api(mux, 'POST', '/api/v1/credentials/new', { name: 'lapsed', provider: 'openai', env_key: 'OPENAI_API_KEY' });
  await api(mux, 'POST', '/api/v1/credentials/set', { account: 'lapsed', token: 'sk-e2e-old', expires_in: 0 });
  await open(page, mux);
  const button = page.getByRole('button', { name: '1 Credential Alert' });
  await expect(button).toBeVisible();
  await button.click();
  const panel = page.getByRole('dialog', { name: 'Credentials' });
  await expect(panel).toContainText('lapsed: key expired');
  const account = panel.locator('li.account[data-account="lapsed"]');
  await expect(account.locator('.expiry')).toHaveText('expired');
  await expect(panel).not.toContainText('0s');
});

test('phone: ☰ opens the sidebar as a drawer; the inspector is reachable', async ({ page }) => {
  const mux = await hub();
  const s = session(mux, ['bash', '--norc']);
  await page.setViewportSize({ width: 390, height: 844 });
  await open(page, mux);
  await expect(tile(page, s.id)).toBeVisible();
  const sidebar = page.getByRole('complementary', { name: 'Sessions' });
  await expect(sidebar).toBeHidden();
  await page.getByTitle('Toggle sidebar (Ctrl+B)').click();
  await expect(sidebar).toBeVisible();
  const box = (await sidebar.boundingBox())!;
  expect(box.x).toBe(0);
  expect(box.width).toBeGreaterThan(200);
  await row(page, s.id).click();
  await expect(sidebar).toBeHidden();
  await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
  await page.getByRole('button', { name: 'Inspector' }).click();
  const inspector = page.getByRole('complementary', { name: 'Inspector' });
  await expect(inspector).toBeInViewport();
  await expect(inspector.locator('[data-section="health"]')).toContainText('running');
  expect((await inspector.boundingBox())!.width).toBeLessThanOrEqual(390);
});

test('filter: tiles and sidebar by label, state, id and screen text; the title counts waiting sessions', async ({ page }) => {
  const mux = await hub();
  const alpha = session(mux, ['bash', '--norc'], { labels: ['team=alpha'] });
  const beta = session(mux, ['sh', '-c', 'echo needle-in-screen; exec bash --norc'], { labels: ['team=beta'] });
  const busy = session(mux, ['sh', '-c', 'while :; do echo tick; sleep 0.2; done'], { labels: ['team=gamma'] });
  await open(page, mux);
  await expect(page).toHaveTitle('coopmux dashboard');
  for (const s of [alpha, beta, busy]) await expect(tile(page, s.id)).toBeVisible();
  await expect(tile(page, busy.id).locator('.badge')).toHaveText('WORKING', { timeout: 15_000 });
  await expect(tile(page, beta.id).locator('.preview')).toContainText('needle-in-screen', { timeout: 15_000 });
  const filter = page.getByRole('searchbox', { name: 'Filter sessions' });
  const visible = async () =>
    (await page.locator('.grid .tile[data-session]:visible').evaluateAll((els) => els.map((e) => e.getAttribute('data-session')))).sort();
  const listed = async () =>
    (await page.locator('aside.sidebar .row').evaluateAll((els) => els.map((e) => e.getAttribute('data-session')))).sort();
  const only = async (ids: string[]) => {
    await expect.poll(visible).toEqual([...ids].sort());
    await expect.poll(listed).toEqual([...ids].sort());
  };
  await filter.fill('alpha');
  await only([alpha.id]);
  await filter.fill('needle');
  await only([beta.id]);
  await filter.fill('working');
  await only([busy.id]);
  await filter.fill(alpha.id.slice(0, 6));
  await only([alpha.id]);
  await filter.fill('nothing-like-this');
  await only([]);
  await expect(page.locator('.grid .empty')).toHaveText('No session matches the filter.');
  await filter.fill('');
  await only([alpha.id, beta.id, busy.id]);
});

test('small things: favicon, tiles as wide as their terminal, the server-rendered page', async ({ page, request }) => {
  const mux = await hub();
  const icon = await request.get(`${mux.url}/favicon.ico`);
  expect(icon.status()).toBe(200);
  expect(icon.headers()['content-type']).toContain('image/svg+xml');
  const wide = session(mux, ['sh', '-c', "printf '%096dEND9\\n' 0; exec sleep 600"], { args: ['--cols', '100'] });
  await expect.poll(async () => (await api(mux, 'GET', '/api/v1/sessions')).length).toBe(1);
  // Before hydration: the count, no contradiction.
  const html = await (await request.get(`${mux.url}/mux`)).text();
  expect(html).toContain('1 session');
  expect(html).not.toContain('Waiting for connections');
  expect(html).not.toContain('0 healthy');
  expect(html).toContain('rel="icon"');
  await open(page, mux);
  const preview = tile(page, wide.id).locator('.preview');
  await expect(preview).toContainText('END9', { timeout: 15_000 });
  const box = (await preview.boundingBox())!;
  const end = await preview.locator('pre').evaluate((pre) => {
    const range = document.createRange();
    const text = pre.firstChild!;
    const at = text.textContent!.indexOf('END9');
    range.setStart(text, at);
    range.setEnd(text, at + 4);
    return range.getBoundingClientRect().right;
  });
  expect(end).toBeLessThanOrEqual(box.x + box.width);
  expect(end).toBeGreaterThan(box.x + box.width * 0.8);
});
