// The inbox panel against real `coopmux session` hosts running claudeless (the Claude Code
// simulator scripts/setup.sh installs) with the scenarios of server/tests/fixtures/claude: what
// a permission, a question and a plan ask, answered with two keys from the grid; the
// simulator proceeds; a second answer of one item is a 409; identical prompts at once.
import { test, expect, Page } from '@playwright/test';
import { mkdirSync, mkdtempSync, existsSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import * as path from 'node:path';
import { startMux, startSession, api, Mux, Session, REPO } from './mux';
import { overflow } from './overflow';

const CLAUDELESS =
  process.env.CLAUDELESS_BIN ??
  [...(process.env.PATH ?? '').split(':'), path.join(homedir(), '.cargo', 'bin')]
    .map((dir) => path.join(dir, 'claudeless'))
    .find((bin) => existsSync(bin)) ??
  'claudeless';
const SCENARIOS = path.join(REPO, 'server', 'tests', 'fixtures', 'claude');
/** Claude Code starting, or an answer reaching it, can take seconds on a busy machine. */
const AGENT_MS = 30_000;

let mux: Mux;
const sessions: Session[] = [];

test.beforeAll(async () => {
  mux = await startMux(['--screen-poll-ms', '300', '--status-poll-ms', '300']);
});
test.afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.stop()));
});
test.afterAll(async () => {
  await mux.stop();
});

/** A host running claudeless with `scenario`; its files and the simulator's in a directory of
 * its own. */
function claude(scenario: string, label: string): Session {
  const dir = mkdtempSync(path.join(tmpdir(), 'coopmux-e2e-claude-'));
  mkdirSync(path.join(dir, 'tmp'));
  const s = startSession(mux, [CLAUDELESS, '--scenario', path.join(SCENARIOS, `${scenario}.toml`)], {
    labels: [`label=${label}`, 'cwd=/srv/app'],
    args: ['--state-dir', path.join(dir, 'state')],
    env: { CLAUDELESS_CONFIG_DIR: path.join(dir, 'claude'), TMPDIR: path.join(dir, 'tmp') },
  });
  sessions.push(s);
  return s;
}

const tile = (page: Page, id: string) => page.locator(`.grid .tile[data-session="${id}"]`);
const panel = (page: Page) => page.getByRole('complementary', { name: 'Inbox' });
const items = (page: Page) => panel(page).locator('.inbox-item');

async function open(page: Page, ...agents: Session[]) {
  await page.goto(`${mux.url}/mux`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected');
  for (const a of agents) {
    try {
      await expect(tile(page, a.id).locator('.badge')).toHaveText('IDLE', { timeout: AGENT_MS });
    } catch (err) {
      // What the host itself says, to tell a slow agent from a tile that missed its change.
      const status = await api(mux, 'GET', `/api/v1/sessions/${a.id}/status`).catch(String);
      const screen = await api(mux, 'GET', `/api/v1/sessions/${a.id}/screen`).catch(String);
      throw new Error(`${err}\nstatus: ${JSON.stringify(status)}\nscreen: ${JSON.stringify(screen?.lines ?? screen)}`);
    }
  }
}

/** Types `text` into the agent and waits for the inbox count to reach `count`. */
async function ask(page: Page, agent: Session, text: string, count: number) {
  await api(mux, 'POST', `/api/v1/sessions/${agent.id}/input`, { text, enter: true });
  await expect(page.getByTestId('inbox-count')).toHaveText(String(count), { timeout: AGENT_MS });
}

/** Waits until a line of the session's screen satisfies `pred`. */
async function screenShows(agent: Session, pred: (line: string) => boolean) {
  await expect
    .poll(async () => {
      const screen = await api(mux, 'GET', `/api/v1/sessions/${agent.id}/screen`);
      return (screen.lines as string[]).some(pred);
    }, { timeout: AGENT_MS })
    .toBe(true);
}

/** Two keys from the grid: `i` opens the inbox on the oldest item, `key` answers it. */
async function answerFromGrid(page: Page, key: string) {
  await expect(panel(page)).toHaveCount(0);
  await page.keyboard.press('i');
  await page.keyboard.press(key);
  await expect(panel(page).getByRole('alert')).toContainText('Answered');
  await page.keyboard.press('Escape');
}

test('a permission, a question and a plan show what they ask and are answered with two keys each', async ({ page }) => {
  const permission = claude('permission', 'deploy task');
  const question = claude('question', 'db task');
  const plan = claude('plan', 'cache task');
  await open(page, permission, question, plan);
  await ask(page, permission, 'please deploy', 1);
  await ask(page, question, 'pick a database', 2);
  await ask(page, plan, 'make a plan', 3);

  // The tiles say what is asked instead of their screens.
  await expect(tile(page, permission.id).getByTestId('tile-ask')).toContainText('echo deploying-now');
  await expect(tile(page, question.id).getByTestId('tile-ask')).toContainText('Which database?');
  await expect(tile(page, plan.id).getByTestId('tile-ask')).toContainText('1. Add a cache table');

  // The panel: oldest first, each with what it asks and its numbered options.
  await page.keyboard.press('i');
  await expect(items(page)).toHaveCount(3);
  const [perm, ques, planned] = [items(page).nth(0), items(page).nth(1), items(page).nth(2)];
  await expect(perm).toHaveAttribute('data-session', permission.id);
  await expect(perm).toHaveAttribute('aria-current', 'true');
  await expect(perm).toContainText('deploy task');
  await expect(perm.locator('.ask-heading')).toHaveText('Bash');
  await expect(perm.locator('.ask-body')).toHaveText('echo deploying-now');
  await expect(perm.locator('.option')).toHaveText(['1. Yes', '2. Yes, allow echo commands from this project', '3. No']);
  await expect(ques).toHaveAttribute('data-session', question.id);
  await expect(ques.locator('.ask-body')).toHaveText('Which database?');
  await expect(ques.locator('.option')).toHaveText(['1. Postgres', '2. SQLite']);
  await expect(planned).toHaveAttribute('data-session', plan.id);
  await expect(planned.locator('.ask-heading')).toHaveText('Plan');
  await expect(planned.locator('.ask-body')).toContainText('1. Add a cache table');
  await expect(planned.locator('.ask-body')).toContainText('3. Expire entries hourly');
  // Only the menu's options, not the plan's numbered lines.
  await expect(planned.locator('.option')).toHaveCount(4);
  await expect(planned.locator('.option').nth(1)).toHaveText('2. Yes, auto-accept edits');
  await page.keyboard.press('Escape');

  // From the grid, each in two keys; the simulator proceeds.
  await answerFromGrid(page, 'y');
  await screenShows(permission, (l) => l.includes('⎿') && l.trimEnd().endsWith('deploying-now'));
  await answerFromGrid(page, '2');
  await screenShows(question, (l) => l.includes('Which database?: SQLite'));
  await answerFromGrid(page, '2');
  await screenShows(plan, (l) => l.includes('[Plan approved (mode: auto_accept)]'));

  // The inbox empties; the tiles show their screens again.
  await expect(page.getByTestId('inbox-count')).toHaveText('0', { timeout: AGENT_MS });
  expect((await api(mux, 'GET', '/api/v1/inbox')).items).toEqual([]);
  await expect(tile(page, permission.id).locator('.preview')).toContainText('deploying-now');
  await page.keyboard.press('i');
  await expect(panel(page)).toContainText('Nothing is waiting for you.');
});

test('the same answer twice: the second is a 409 that the panel explains, and the item refreshes', async ({ page }) => {
  // The page is hidden and may notify: each new item raises a browser notification.
  await page.addInitScript(() => {
    const shown: { title: string; body: string }[] = [];
    (window as any).shownNotifications = shown;
    class FakeNotification {
      static permission = 'granted';
      static requestPermission = async () => 'granted';
      constructor(title: string, options: { body: string }) {
        shown.push({ title, body: options.body });
      }
    }
    (window as any).Notification = FakeNotification;
    Object.defineProperty(document, 'hidden', { get: () => true });
  });
  // This page never hears that the item left: it answers an item answered elsewhere.
  await page.routeWebSocket(/\/ws\/mux$/, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((m) => {
      if (typeof m === 'string' && m.includes('"event":"inbox:gone"')) return;
      ws.send(m);
    });
    ws.onMessage((m) => server.send(m));
  });
  const agent = claude('permission', 'twice task');
  await open(page, agent);
  await ask(page, agent, 'please deploy', 1);
  await expect
    .poll(() => page.evaluate(() => (window as any).shownNotifications))
    .toEqual([{ title: 'coopmux: prompt', body: 'twice task asks — Bash: echo deploying-now' }]);

  const [item] = (await api(mux, 'GET', '/api/v1/inbox')).items;
  expect(item.session).toBe(agent.id);
  const send = () =>
    fetch(`${mux.url}/api/v1/inbox/${item.id}/answer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ accept: true }),
    });
  const first = await send();
  expect(first.status).toBe(200);
  expect(await first.json()).toMatchObject({ item: item.id, delivered: true, prompt_type: 'permission' });
  const second = await send();
  expect(second.status).toBe(409);
  expect((await second.json()).error.code).toBe('ALREADY_ANSWERED');
  await screenShows(agent, (l) => l.includes('⎿') && l.trimEnd().endsWith('deploying-now'));

  // The page still shows it; its answer is refused, said so, and the list is read again.
  await page.keyboard.press('i');
  await expect(items(page)).toHaveCount(1);
  await page.keyboard.press('y');
  const alert = panel(page).getByRole('alert');
  await expect(alert).toContainText('was answered already; nothing was sent');
  await expect(alert).toContainText('the inbox was refreshed');
  await expect(items(page)).toHaveCount(0);
  await expect(page.getByTestId('inbox-count')).toHaveText('0');
});

for (const [width, height] of [[390, 844], [1400, 900]]) {
  test(`identical prompts in two sessions are answered in one action, without overflow at ${width}px`, async ({ page }) => {
    await page.setViewportSize({ width, height });
    const a = claude('permission', 'deploy east');
    const b = claude('permission', 'deploy west');
    await open(page, a, b);
    await ask(page, a, 'please deploy', 1);
    await ask(page, b, 'please deploy', 2);
    await page.keyboard.press('i');
    await expect(items(page)).toHaveCount(2);
    expect(await overflow(page), 'inbox open with items').toEqual([]);
    const all = items(page).first().getByRole('checkbox');
    await expect(items(page).first()).toContainText('Answer all 2 identical prompts (a)');
    await page.keyboard.press('a');
    await expect(all).toBeChecked();
    await page.keyboard.press('y');
    await expect(panel(page).getByRole('alert')).toHaveText('Answered 2 identical prompts: allowed');
    for (const s of [a, b]) {
      await screenShows(s, (l) => l.includes('⎿') && l.trimEnd().endsWith('deploying-now'));
    }
    await expect(page.getByTestId('inbox-count')).toHaveText('0', { timeout: AGENT_MS });
    expect((await api(mux, 'GET', '/api/v1/inbox')).items).toEqual([]);
  });
}
