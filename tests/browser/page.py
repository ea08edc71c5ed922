"""What a person does with Home Assistant's frontend, for Selenium.

The frontend is web components inside web components: CSS selectors and WebDriver's own
lookups stop at the first shadow root. The JavaScript below walks every shadow root and
reads the text as it is rendered (slotted content where it is shown), so the tests find
things the way a person does: by the words on the screen. Clicks are real mouse clicks at
the element's position and typing is real key presses into the focused field.
"""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import time
from typing import Any, NoReturn

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

DEEP_JS = """
const deep = {
  // Every element under root, shadow roots included.
  all(root = document) {
    const out = [];
    const walk = (r) => {
      for (const el of r.querySelectorAll('*')) { out.push(el); if (el.shadowRoot) walk(el.shadowRoot); }
    };
    if (root.shadowRoot) walk(root.shadowRoot);
    walk(root);
    return out;
  },
  // The text of node as rendered: shadow trees, slotted nodes in their slots.
  text(node) {
    let s = '';
    const walk = (n) => {
      if (n.nodeType === Node.TEXT_NODE) { s += n.textContent; return; }
      if (n.nodeType === Node.ELEMENT_NODE) {
        if (['STYLE', 'SCRIPT', 'TEMPLATE'].includes(n.tagName)) return;
        if (n.shadowRoot) { s += ' '; walk(n.shadowRoot); s += ' '; return; }
        if (n.tagName === 'SLOT') {
          const assigned = n.assignedNodes({flatten: true});
          if (assigned.length) { assigned.forEach(walk); return; }
        }
        s += ' ';
      }
      for (const child of n.childNodes) walk(child);
      if (n.nodeType === Node.ELEMENT_NODE) s += ' ';
    };
    walk(node);
    return s.replace(/\\s+/g, ' ').trim();
  },
  visible(el) {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0
      && el.checkVisibility({visibilityProperty: true, opacityProperty: true});
  },
  // The smallest visible element (matching selector) whose whole text is `label`.
  byText(label, selector) {
    const area = (e) => { const r = e.getBoundingClientRect(); return r.width * r.height; };
    const hits = this.all().filter((e) => e.matches(selector) && this.visible(e) && this.text(e) === label);
    hits.sort((a, b) => area(a) - area(b));
    return hits[0] || null;
  },
  // Animations still running, endless ones (spinners) aside.
  busy() {
    return document.getAnimations().some(
      (a) => a.playState === 'running' && a.effect && a.effect.getTiming().iterations !== Infinity);
  },
};
"""

# Blur the innermost focused element; true once nothing but <body> has the focus.
BLUR_JS = """
let active = document.activeElement;
while (active && active.shadowRoot && active.shadowRoot.activeElement) {
  active = active.shadowRoot.activeElement;
}
if (active && active !== document.body && active.blur) active.blur();
return !document.activeElement || document.activeElement === document.body;
"""

# Resolves after two animation frames: whatever the last change was has been painted.
NEXT_FRAMES_JS = """
return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(true))));
"""


class Page:
    """The browser tab, in a person's terms: go to, read, click, type, wait."""

    def __init__(self, driver: WebDriver, base_url: str, failure_dir: Path) -> None:
        self.driver = driver
        self.base_url = base_url
        self.failure_dir = failure_dir

    def js(self, body: str, *args: Any) -> Any:
        """Run `body` (a function body; `deep` is in scope) in the page; promises are awaited."""
        return self.driver.execute_script(DEEP_JS + body, *args)

    def goto(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    @property
    def path(self) -> str:
        return str(self.driver.current_url).removeprefix(self.base_url)

    def login(self, tokens: dict[str, Any], client_id: str) -> None:
        """Hand the frontend the owner's tokens, as it stores them after a login."""
        self.goto("/")  # any page of the origin: localStorage is per origin
        stored = {
            **tokens,
            "hassUrl": self.base_url,
            "clientId": client_id,
            "expires": int(time.time() * 1000) + int(tokens["expires_in"]) * 1000,
        }
        self.js("localStorage.setItem('hassTokens', arguments[0])", json.dumps(stored))

    def text(self, element: WebElement | None = None) -> str:
        """Everything the page (or element) shows, as one line of text."""
        return str(self.js("return deep.text(arguments[0] || document.body)", element))

    def find_text(self, label: str, selector: str = ":not(slot)") -> WebElement | None:
        found: WebElement | None = self.js("return deep.byText(arguments[0], arguments[1])", label, selector)
        return found

    def wait_for[T](self, condition: Callable[[], T | None], what: str, timeout: float = 30) -> T:
        """Poll `condition` until it returns something truthy; fail with a screenshot after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                self.fail(f"{what}: not within {timeout}s")
            time.sleep(0.25)

    def wait_for_or_none[T](self, condition: Callable[[], T | None], timeout: float) -> T | None:
        """Poll `condition` until it returns something truthy (that), or None after `timeout`."""
        deadline = time.monotonic() + timeout
        while not (result := condition()):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.25)
        return result

    def wait_text(self, label: str, selector: str = ":not(slot)", timeout: float = 30) -> WebElement:
        return self.wait_for(lambda: self.find_text(label, selector), f"text {label!r} on the page", timeout)

    def click(self, element: WebElement) -> None:
        """A mouse click in the middle of the element, after scrolling it into view."""
        self.js("arguments[0].scrollIntoView({block: 'center', inline: 'center'})", element)
        ActionChains(self.driver).move_to_element(element).click().perform()

    def click_text(self, label: str, selector: str = ":not(slot)", timeout: float = 30) -> None:
        self.click(self.wait_text(label, selector, timeout))

    def input(self, condition_js: str, what: str, timeout: float = 30) -> WebElement:
        """The visible <input> for which the JS expression `condition_js` (about `e`) is true."""
        script = (
            f"return deep.all().find((e) => e.tagName === 'INPUT' && deep.visible(e) && ({condition_js}))"
        )
        return self.wait_for(lambda: self.js(script), what, timeout)

    def type_into(self, field: WebElement, value: str) -> None:
        """Select what the field holds and type `value` over it, key by key."""
        self.js(
            "arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus(); arguments[0].select()",
            field,
        )
        ActionChains(self.driver).send_keys(value).perform()
        typed = field.get_attribute("value")
        if typed != value:
            self.fail(f"typed {value!r} into a field, it holds {typed!r}")

    def blur(self) -> None:
        """Take the focus (and the blinking caret) away, before a screenshot."""
        self.wait_for(lambda: self.js(BLUR_JS), "the focus to leave the field", timeout=5)

    def settle(self, timeout: float = 10) -> None:
        """Wait for the opening and closing animations (dialogs, ripples) to end and a repaint."""
        self.wait_for(lambda: not self.js("return deep.busy()"), "animations to end", timeout)
        self.js(NEXT_FRAMES_JS)

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path

    def fail(self, message: str) -> NoReturn:
        """AssertionError with what the page showed (and a screenshot of it)."""
        shot = self.screenshot(self.failure_dir / "failure.png")
        raise AssertionError(
            f"{message}\nat {self.path} (screenshot: {shot})\npage text: {self.text()[:3000]}"
        )
