// Drives the SDK in Node against a real server: a stand-in media element
// (an EventTarget with the properties the SDK reads), a clock the script
// moves, and the real fetch. Prints what was sent and how the server answered.
//
//   node sdk/test/drive.mjs SDK_URL ENDPOINT INGEST_KEY

const [sdkUrl, endpoint, key] = process.argv.slice(2);

// A clock that moves only when told, for the SDK's Date and timers alike
// (handed to it in place of the globals, which Node's own fetch needs).
let clock = Date.parse("2026-03-02T10:00:00Z");
const FakeDate = class extends Date {
  constructor(...a) { if (a.length === 0) super(clock); else super(...a); }
  static now() { return clock; }
};
let timers = [];
let nextId = 1;
const setTimeoutFake = (fn, ms) => { const id = nextId++; timers.push({ id, at: clock + ms, fn }); return id; };
const setIntervalFake = (fn, ms) => { const id = nextId++; timers.push({ id, at: clock + ms, fn, every: ms }); return id; };
const clearFake = (id) => { timers = timers.filter((t) => t.id !== id); };
function advance(ms) {
  const end = clock + ms;
  for (;;) {
    timers.sort((a, b) => a.at - b.at);
    const t = timers[0];
    if (!t || t.at > end) break;
    clock = t.at;
    if (t.every) t.at += t.every; else timers.shift();
    t.fn();
  }
  clock = end;
}

// What went over the wire.
const sent = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) => {
  // Kept in the order sent (answers may come back in another).
  const entry = { body: JSON.parse(init.body) };
  sent.push(entry);
  const p = realFetch(url, init).then(async (r) => { entry.status = r.status; entry.answer = await r.text(); return r; });
  sent.pending = (sent.pending || []).concat([p]);
  return p;
};
const beacons = [];
const sendBeacon = (url, blob) => { beacons.push(blob.text().then((body) => globalThis.fetch(url, { method: "POST", body, headers: { "Content-Type": "text/plain" } }))); return true; };
globalThis.navigator = { sendBeacon };
globalThis.document = Object.assign(new EventTarget(), { visibilityState: "visible", referrer: "https://news.example/page" });

const sdk = await (await realFetch(sdkUrl)).text();
new Function("Date", "setTimeout", "setInterval", "clearTimeout", "clearInterval", sdk)(FakeDate, setTimeoutFake, setIntervalFake, clearFake, clearFake);
const { streamtally } = globalThis;

const media = Object.assign(new EventTarget(), { tagName: "VIDEO", currentTime: 0, ended: false, error: null });
const fire = (name) => media.dispatchEvent(new Event(name));
const play = (seconds) => { for (let i = 0; i < seconds; i++) { advance(1000); media.currentTime += 1; } };

streamtally.track(media, { key, endpoint, contentId: "sdk-vod", contentKind: "vod", userId: "u-42", dimensions: { campaign: "spring" } });
advance(500);
fire("play");
advance(1500); // startup
fire("playing");
play(25);
fire("seeking");
media.currentTime = 100;
fire("waiting");
advance(3000); // rebuffering after the seek
fire("seeked");
fire("playing");
play(10);
fire("pause");
advance(2000);
// The tab goes away: what is queued leaves in a beacon.
document.visibilityState = "hidden";
document.dispatchEvent(new Event("visibilitychange"));
await Promise.all(beacons);
await Promise.all(sent.pending || []);
advance(5000);
await Promise.all(sent.pending || []);
const events = sent.flatMap((s) => s.body.events);
console.log(JSON.stringify({
  statuses: sent.map((s) => s.status),
  answers: sent.map((s) => s.answer),
  types: events.map((e) => e.type),
  durations: events.filter((e) => e.type === "playing" || e.type === "buffering").map((e) => [e.type, e.duration]),
  playback_ids: [...new Set(events.map((e) => e.playback_id).filter(Boolean))],
  every_event_has_the_user: events.every((e) => e.user_id === "u-42"),
  property_sent: events.some((e) => "property" in e),
}));
