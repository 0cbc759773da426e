// What the layout tests look for: anything that makes the page scroll sideways or is cut.
import { Page } from '@playwright/test';

/** Everything that sticks out of the viewport sideways or is cut inside its own box: the page
 *  scrolling sideways, any visible element reaching past the left or right edge (fixed
 *  overlays included, which never make the page scroll), and any button or field whose
 *  content is wider than the box. Terminal and preview text is clipped by design. */
export function overflow(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const found: string[] = [];
    const name = (el: Element) =>
      `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')} "${(el.textContent ?? '').trim().slice(0, 30)}"`;
    if (document.documentElement.scrollWidth > width) {
      found.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
    }
    for (const el of document.querySelectorAll('body *')) {
      if (el.closest('.xterm, .preview, .cached, script, style')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
      if (r.right > width + 0.5 || r.left < -0.5) {
        found.push(`${name(el)} spans ${r.left.toFixed(0)}..${r.right.toFixed(0)} of ${width}`);
      }
      const cut = el instanceof HTMLButtonElement || el instanceof HTMLInputElement || el.getAttribute('role') === 'tab';
      if (cut && el.scrollWidth > el.clientWidth + 1) {
        found.push(`${name(el)} content ${el.scrollWidth} wider than its box ${el.clientWidth}`);
      }
    }
    return found;
  });
}
