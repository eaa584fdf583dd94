// A small WebDriver client (W3C protocol over HTTP, as chromedriver speaks
// it): enough to sign in, click, type, read the page and take screenshots.

/** The W3C name of an element reference. */
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

export class Browser {
  constructor(driver, id) { this.driver = driver; this.id = id; }

  /** A headless Chromium; `userAgent` replaces HeadlessChrome's (which the bot rules refuse). */
  static async open(driver, binary, userAgent) {
    const caps = {
      capabilities: {
        alwaysMatch: {
          browserName: "chrome",
          "goog:chromeOptions": { binary, args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1100", "--autoplay-policy=no-user-gesture-required"].concat(userAgent ? [`--user-agent=${userAgent}`] : []) },
          "goog:loggingPrefs": { browser: "ALL" },
        },
      },
    };
    const r = await call(driver, "POST", "/session", caps);
    return new Browser(driver, r.sessionId);
  }

  cmd(method, path, body) { return call(this.driver, method, `/session/${this.id}${path}`, body); }
  async go(url) { await this.cmd("POST", "/url", { url }); await this.settled(); }
  async url() { return this.cmd("GET", "/url"); }
  async resize(width, height) { await this.cmd("POST", "/window/rect", { width, height }); }
  async run(script, ...args) { return this.cmd("POST", "/execute/async", { script: `const done = arguments[arguments.length - 1]; Promise.resolve((async () => { ${script} })()).then(done, (e) => done({ error: String(e) }));`, args }); }
  async find(css) {
    const r = await this.cmd("POST", "/element", { using: "css selector", value: css });
    return Object.values(r)[0];
  }
  async type(css, text) { const e = await this.find(css); await this.cmd("POST", `/element/${e}/clear`, {}); await this.cmd("POST", `/element/${e}/value`, { text }); }
  async click(css) { const e = await this.find(css); await this.cmd("POST", `/element/${e}/click`, {}); await this.settled(); }
  /** Clicks what submits a form or follows a link, and waits until the next
   * page has loaded (the old one can still look complete right after the click). */
  async clickToNextPage(css) {
    await this.cmd("POST", "/execute/sync", { script: "window.__streamtallyOldPage = true", args: [] });
    await this.click(css);
    for (let i = 0; i < 200; i++) {
      const next = await this.cmd("POST", "/execute/sync", { script: "return window.__streamtallyOldPage !== true && document.readyState === 'complete'", args: [] }).catch(() => false);
      if (next === true) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no new page within 10 s of clicking ${css}`);
  }
  async settled() {
    for (let i = 0; i < 100; i++) {
      const state = await this.cmd("POST", "/execute/sync", { script: "return document.readyState", args: [] });
      if (state === "complete") return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  /** A mouse drag across an element, from and to x offsets from its centre. */
  async drag(css, fromX, toX) {
    const origin = { [ELEMENT]: await this.find(css) };
    await this.pointer([
      { type: "pointerMove", origin, x: fromX, y: 0 },
      { type: "pointerDown", button: 0 },
      { type: "pointerMove", origin, x: toX, y: 0, duration: 200 },
      { type: "pointerUp", button: 0 },
    ]);
  }
  async doubleClick(css) {
    const origin = { [ELEMENT]: await this.find(css) };
    const click = [{ type: "pointerDown", button: 0 }, { type: "pointerUp", button: 0 }];
    await this.pointer([{ type: "pointerMove", origin, x: 0, y: 0 }, ...click, ...click]);
  }
  async pointer(actions) {
    await this.cmd("POST", "/actions", { actions: [{ type: "pointer", id: "mouse", parameters: { pointerType: "mouse" }, actions }] });
    await this.cmd("DELETE", "/actions");
  }
  /** Console messages since the last call (chromedriver's log endpoint). */
  async console() { return this.cmd("POST", "/se/log", { type: "browser" }).catch(() => []); }
  async screenshot() { return Buffer.from(await this.cmd("GET", "/screenshot"), "base64"); }
  async close() { await this.cmd("DELETE", "").catch(() => {}); }
}

async function call(driver, method, path, body) {
  const r = await fetch(driver + path, { method, headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const v = await r.json();
  if (v.value && v.value.error) throw new Error(`${method} ${path}: ${v.value.error}: ${v.value.message}`);
  return v.value;
}
