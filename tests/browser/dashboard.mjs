// Clicks through the dashboard in headless Chromium: sign-in with a staff
// account, every page (no console error, no failed request, a screenshot
// each), a filter change, a date-range change, a drag to zoom the series and
// a CSV download, each checked against the API's answer to the same
// question (asked with READ_KEY). Prints a JSON summary.
//
//   node tests/browser/dashboard.mjs CHROMEDRIVER_URL BASE_URL READ_KEY OUT_DIR DAY EMAIL PASSWORD

import { writeFileSync, mkdirSync } from "node:fs";
import { Browser } from "./webdriver.mjs";

const [driver, base, key, out, day, email, password] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const api = async (path) => (await fetch(base + path, { headers: { Authorization: `Bearer ${key}` } })).text();
const summary = { pages: {}, checks: {} };
const b = await Browser.open(driver, "/usr/bin/chromium");
try {
  await b.go(`${base}/signin`);
  await b.type("input[name=email]", email);
  await b.type("input[name=password]", password);
  await b.clickToNextPage("form button[value=account]");
  summary.signed_in_to = await b.url();

  const failed = () => b.run("return performance.getEntriesByType('resource').filter((e) => e.responseStatus >= 400).map((e) => e.name + ' ' + e.responseStatus)");
  const view = `range=custom&from=${day}&to=${day}`;
  for (const page of ["overview", "live", "monthly", "cdn", "attendance", "audience", "settings"]) {
    await b.go(`${base}/${page}?${view}`);
    await new Promise((r) => setTimeout(r, page === "live" ? 6500 : 300));
    const logs = await b.console();
    summary.pages[page] = {
      title: await b.run("return document.title"),
      errors: logs.filter((l) => l.level === "SEVERE").map((l) => l.message),
      failed: await failed(),
      tables: await b.run("return document.querySelectorAll('table').length"),
      // What the browser measured: the HTML's answer time and the page's weight.
      html_ms: await b.run("const n = performance.getEntriesByType('navigation')[0]; return Math.round(n.responseEnd - n.requestStart)"),
      bytes: await b.run("return performance.getEntriesByType('navigation')[0].transferSize + performance.getEntriesByType('resource').reduce((s, e) => s + e.transferSize, 0)"),
      live_updated: page === "live" ? await b.run("return document.querySelector('[data-live]').getAttribute('data-updated') !== null") : undefined,
    };
    writeFileSync(`${out}/${page}.png`, await b.screenshot());
  }

  // On a phone: nothing wider than the screen (tables scroll inside themselves).
  await b.resize(390, 844);
  await b.go(`${base}/overview?${view}`);
  summary.phone = await b.run("return { page: document.documentElement.scrollWidth, screen: window.innerWidth }");
  writeFileSync(`${out}/overview-phone.png`, await b.screenshot());
  await b.resize(1280, 1100);

  // The tile a page shows, and the API's total for the same question.
  const tile = (label) => b.run(`return [...document.querySelectorAll('.tile')].find((t) => t.querySelector('.label').textContent === ${JSON.stringify(label)}).querySelector('.value').textContent`);
  const starts = async (query) => JSON.parse(await api(`/api/v1/metrics?metrics=starts&${query}`)).totals.starts;
  const range = (d) => `from=${d}T00:00:00Z&to=${next(d)}T00:00:00Z`;
  const next = (d) => new Date(Date.parse(d + "T00:00:00Z") + 86400000).toISOString().slice(0, 10);

  // A date-range change through the form: custom, that day.
  await b.go(`${base}/overview`);
  await b.run(`const f = document.querySelector('form.view'); f.range.value = 'custom'; f.from.value = ${JSON.stringify(day)}; f.to.value = ${JSON.stringify(day)};`);
  await b.clickToNextPage("form.view button");
  summary.checks.range = { page: await tile("Starts"), api: String(await starts(range(day))), url: await b.url() };

  // A filter change through the form.
  await b.type("form.view input[name=property]", "web");
  await b.clickToNextPage("form.view button");
  summary.checks.filter = { page: await tile("Starts"), api: String(await starts(range(day) + "&filter=property:web")), url: await b.url() };

  // Dragging across the series zooms it (its viewBox narrows); a double-click goes back.
  const box = "return document.querySelector('svg[data-zoom]').getAttribute('viewBox')";
  const full = await b.run(box);
  await b.drag("svg[data-zoom]", -150, 100);
  const zoomed = await b.run(box);
  await b.doubleClick("svg[data-zoom]");
  summary.checks.zoom = { full, zoomed, back: await b.run(box) };

  // The CSV link, as the browser downloads it, against the API's CSV.
  const href = await b.run("return document.querySelector('a.csv').getAttribute('href')");
  const downloaded = await b.run(`return (await fetch(${JSON.stringify(href)})).text()`);
  summary.checks.csv = { same: downloaded === (await api(href)), lines: downloaded.split("\n").length, href };
  writeFileSync(`${out}/overview-filtered.png`, await b.screenshot());

  // Signing out ends the session.
  await b.clickToNextPage("form.signout button");
  summary.signed_out_to = await b.url();
} finally {
  await b.close();
}
console.log(JSON.stringify(summary));
