// A real player in a real browser: opens PAGE_URL (a player library playing
// a stream, with or without the SDK), lets it play SECONDS, pauses it and
// stops the tracker, and prints how far the video played.
//
//   node tests/browser/player.mjs CHROMEDRIVER_URL PAGE_URL SECONDS OUT_PNG

import { writeFileSync } from "node:fs";
import { Browser } from "./webdriver.mjs";

const [driver, page, seconds, png] = process.argv.slice(2);
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36";
const b = await Browser.open(driver, "/usr/bin/chromium", UA);
const out = {};
try {
  await b.go(page);
  // Until the first frame plays.
  const started = Date.now();
  for (;;) {
    const t = await b.run("return document.querySelector('video').currentTime");
    if (t > 0) break;
    if (Date.now() - started > 20000) throw new Error("the video did not start: " + JSON.stringify(await b.run("return window.playerErrors || []")));
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
  out.played = await b.run("const v = document.querySelector('video'); v.pause(); if (window.tracker) window.tracker.detach(); return v.currentTime");
  // The last batch leaves with the detach; give it a moment to arrive.
  await new Promise((r) => setTimeout(r, 1500));
  out.bitrates = await b.run("return window.bitrates || []");
  out.errors = (await b.console()).filter((l) => l.level === "SEVERE").map((l) => l.message);
  writeFileSync(png, await b.screenshot());
} finally {
  await b.close();
}
console.log(JSON.stringify(out));
