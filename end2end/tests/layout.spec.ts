// The dashboard at every width and with the fonts of any machine (issue 25): no horizontal
// overflow on a phone or a desktop, no icon that needs an emoji font, and the symbols agents
// print drawn by a font that has them — in Debian's chromium, whose default fonts have no
// emoji and no ⏺.
import { test, expect, Page } from '@playwright/test';
import { startMux, startSession, Mux, Session } from './mux';
import { overflow } from './overflow';

let mux: Mux;
const sessions: Session[] = [];
test.beforeAll(async () => {
  mux = await startMux(['--screen-poll-ms', '300', '--status-poll-ms', '300', '--launch', 'coopmux session -- bash --norc --noprofile']);
});
test.afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.stop()));
});
test.afterAll(async () => {
  await mux.stop();
});

function session(cmd: string[], labels: string[] = []): Session {
  const s = startSession(mux, cmd, { labels });
  sessions.push(s);
  return s;
}

/** What a Claude-like agent prints: state markers, a result corner, a spinner, a box. */
const AGENT_SCREEN = "printf '⏺ Read 3 files\\n  ⎿  42 lines\\n⠋ thinking\\n╭──────╮\\n│ done │\\n╰──────╯\\n'; exec sleep 600";

const tile = (page: Page, id: string) => page.locator(`.grid .tile[data-session="${id}"]`);

async function open(page: Page) {
  await page.goto(`${mux.url}/mux`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected');
}

async function focusWithInspector(page: Page, id: string) {
  await tile(page, id).click();
  await expect(page.locator('.ws-status')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
  await page.getByRole('button', { name: 'Inspector' }).click();
  const inspector = page.getByRole('complementary', { name: 'Inspector' });
  await expect(inspector.locator('[data-section="health"] dl')).toHaveCount(1, { timeout: 15_000 });
}

for (const [width, height] of [[390, 844], [1400, 900]]) {
  test(`no horizontal overflow at ${width}×${height}: grid, focused terminal with the inspector, drawer`, async ({ page }) => {
    await page.setViewportSize({ width, height });
    const agent = session(['sh', '-c', AGENT_SCREEN], ['team=infrastructure-platform', 'owner=someone-with-a-long-name']);
    session(['sh', '-c', "printf '%0200d\\n' 0; exec sleep 600"], ['team=alpha']);
    session(['bash', '--norc']);
    await open(page);
    await expect(page.getByTestId('session-count')).toHaveText('3 sessions');
    await expect(tile(page, agent.id).locator('.preview')).toContainText('Read 3 files', { timeout: 15_000 });
    // Every header control is on screen.
    for (const name of ['Toggle sidebar', 'Notifications', 'Credentials']) {
      await expect(page.getByRole('button', { name, exact: true })).toBeInViewport({ ratio: 1 });
    }
    await expect(page.getByRole('button', { name: /^Inbox/ })).toBeInViewport({ ratio: 1 });
    await expect(page.getByRole('searchbox', { name: 'Filter sessions' })).toBeInViewport({ ratio: 1 });
    expect(await overflow(page)).toEqual([]);

    await focusWithInspector(page, agent.id);
    for (const tab of ['state', 'actions', 'config']) {
      await page.getByRole('tab', { name: tab }).click();
      await expect(page.getByRole('tab', { name: tab })).toHaveAttribute('aria-selected', 'true');
      expect(await overflow(page), `inspector tab ${tab}`).toEqual([]);
    }
    await page.getByRole('button', { name: 'Close' }).click();

    // The sidebar: a drawer on the phone, folded and unfolded on the desktop.
    await page.getByRole('button', { name: 'Toggle sidebar' }).click();
    expect(await overflow(page), 'sidebar toggled').toEqual([]);
    await page.keyboard.press('Escape');

    // The inbox beside the grid (over it on a phone); with items: inbox.spec.ts.
    await page.keyboard.press('i');
    await expect(page.getByRole('complementary', { name: 'Inbox' })).toBeVisible();
    expect(await overflow(page), 'inbox open').toEqual([]);
  });
}

/** The text of every visible button, with its accessible name for the failure message. */
function buttonLabels(page: Page): Promise<{ name: string; text: string }[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('button, [role="button"]:not(.tile), [role="tab"]')]
      .filter((b) => b.getBoundingClientRect().width > 0)
      .map((b) => ({ name: b.getAttribute('aria-label') ?? b.getAttribute('title') ?? '', text: (b as HTMLElement).innerText })),
  );
}

test('no button label is an emoji or a pictograph; icon buttons draw their icon', async ({ page }) => {
  const s = session(['bash', '--norc']);
  await open(page);
  await expect(tile(page, s.id)).toBeVisible();
  const labels = await buttonLabels(page);
  await focusWithInspector(page, s.id);
  for (const tab of ['state', 'actions', 'config']) {
    await page.getByRole('tab', { name: tab }).click();
    labels.push(...(await buttonLabels(page)));
  }
  await page.getByRole('button', { name: 'Close' }).click();
  await page.getByRole('button', { name: 'Credentials', exact: true }).click();
  await expect(page.getByRole('dialog', { name: 'Credentials' })).toBeVisible();
  labels.push(...(await buttonLabels(page)));
  await page.keyboard.press('Escape');
  await page.getByRole('button', { name: '+ New Session' }).click();
  await expect(page.getByRole('dialog')).toBeVisible();
  labels.push(...(await buttonLabels(page)));
  await page.keyboard.press('Escape');

  expect(labels.length).toBeGreaterThan(20);
  // So: other symbols (☰, ⏺, ✓, 🔔 …), the characters that need a symbol or emoji font.
  const pictographs = labels.filter((l) => /[\p{So}\p{Extended_Pictographic}]/u.test(l.text));
  expect(pictographs).toEqual([]);

  // An icon-only button draws its icon (a CSS mask in the button's colour): it looks different
  // once that colour is transparent.
  for (const name of ['Toggle sidebar', 'Notifications']) {
    const button = page.getByRole('button', { name, exact: true });
    expect(await button.innerText()).toBe('');
    const shown = await button.screenshot();
    await button.evaluate((b: HTMLElement) => b.style.setProperty('color', 'transparent'));
    const blank = await button.screenshot();
    expect(shown.equals(blank), `${name} has no ink`).toBe(false);
  }
});

/** The fonts chromium used for the text directly inside the element that `selector` finds. */
async function fontsOf(page: Page, selector: string): Promise<string[]> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('DOM.enable');
  await cdp.send('CSS.enable');
  const { root } = await cdp.send('DOM.getDocument', { depth: 0 });
  const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector });
  const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
  await cdp.detach();
  return fonts.map((f: { familyName: string }) => f.familyName);
}

/** Marks the innermost element inside `scope` whose own text contains `text`. */
async function markText(page: Page, scope: string, text: string, mark: string) {
  await expect
    .poll(() =>
      page.evaluate(
        ({ scope, text, mark }) => {
          const root = document.querySelector(scope);
          if (!root) return false;
          const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
          for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            if (n.textContent!.includes(text)) {
              n.parentElement!.setAttribute('data-mark', mark);
              return true;
            }
          }
          return false;
        },
        { scope, text, mark },
      ),
    )
    .toBe(true);
}

test('the symbols agents print are drawn by a font that has them: terminal and tile preview', async ({ page }) => {
  const s = session(['sh', '-c', AGENT_SCREEN]);
  await open(page);
  const preview = tile(page, s.id).locator('.preview');
  await expect(preview).toContainText('Read 3 files', { timeout: 15_000 });
  await markText(page, `.tile[data-session="${s.id}"] .preview pre`, '⏺', 'tile-record');
  await page.evaluate(() => document.fonts.ready);
  expect(await fontsOf(page, '[data-mark="tile-record"]')).toContain('coopmux symbols');

  await tile(page, s.id).click();
  await expect(page.locator('.overlay .xterm-rows')).toContainText('Read 3 files', { timeout: 15_000 });
  for (const [symbol, mark] of [['⏺', 'term-record'], ['⎿', 'term-corner']]) {
    await markText(page, '.overlay .xterm-rows', symbol, mark);
    await page.evaluate(() => document.fonts.ready);
    expect(await fontsOf(page, `[data-mark="${mark}"]`), symbol).toContain('coopmux symbols');
  }
  // Letters stay in the monospace font, and so does box drawing, which it has: the symbols
  // font only fills in (here the braille spinner).
  await markText(page, '.overlay .xterm-rows', 'thinking', 'term-text');
  expect((await fontsOf(page, '[data-mark="term-text"]')).sort()).toEqual(['DejaVu Sans Mono', 'coopmux symbols']);
  await markText(page, '.overlay .xterm-rows', '╭', 'term-box');
  expect(await fontsOf(page, '[data-mark="term-box"]')).toEqual(['DejaVu Sans Mono']);
});
