"""Axe-style checks of a page in the browser, beyond ``Watched.assert_accessible``: the WCAG 2
contrast of every visible piece of text with what lies behind it (1.4.3: 4.5:1, 3:1 for large
text), and which controls the Tab key reaches (2.1.1)."""

from __future__ import annotations

from playwright.sync_api import Page

# WCAG 2.x relative luminance and contrast ratio (w3.org/TR/WCAG21/#dfn-relative-luminance);
# the background is the first ancestor's opaque background colour (or the page's white).
_CONTRAST = """() => {
  const rgba = (c) => (c.match(/[0-9.]+/g) || [0, 0, 0, 0]).map(Number);
  const lum = (c) => rgba(c).slice(0, 3).map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor, a = rgba(c);
      if (a.length < 4 ? true : a[3] >= 0.99) return c;
    }
    return "rgb(255, 255, 255)";
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el) continue;
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    if (box.width <= 1 || box.height <= 1 || style.visibility === "hidden"
        || el.closest("[hidden], noscript, option, title, script, style")) continue;
    const fg = lum(style.color), bg = lum(behind(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) out.push(`${node.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)}`);
  }
  return out;
}"""


def text_contrast_failures(page: Page) -> list[str]:
    """Each visible text below its needed contrast, with its ratio; [] when all pass."""
    return list(page.evaluate(_CONTRAST))


def tab_reaches(page: Page, presses: int) -> list[str]:
    """What the focus lands on over ``presses`` Tab presses from the top of the page: each
    element's id, else its accessible text (aria-label, then its text)."""
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    reached = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("""() => { const e = document.activeElement;
          return e.id || e.getAttribute('aria-label') || e.textContent.trim().slice(0, 60); }"""))
    return reached
