/*! streamtally player SDK — reports an HTML5 <video>/<audio> (and hls.js,
 * dash.js, Shaka Player, video.js through adapters) to a streamtally server.
 * No dependencies, no cookies, no storage. Apache-2.0. */
(function (root) {
  "use strict";

  var HEARTBEAT_MS = 10000;
  var BATCH_MS = 2000;
  var MAX_QUEUE = 500;

  function now() { return new Date().toISOString(); }

  /** A fresh id for each playback (not stored anywhere). */
  function freshId() {
    var c = root.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    var s = "";
    for (var i = 0; i < 32; i++) s += Math.floor(Math.random() * 16).toString(16);
    return s;
  }

  function round(x) { return Math.round(x * 1000) / 1000; }

  /**
   * Sends batches of events to `endpoint` (`/api/v1/events`), the ingest key in
   * the query string (beacons cannot set headers), the client's clock in
   * `sent_at` so the server corrects its skew.
   */
  function Sender(opts) {
    // `sdk`: the server gives events without a property this SDK's (spec §1).
    this.url = (opts.endpoint || "/api/v1/events") + "?sdk=js&key=" + encodeURIComponent(opts.key || "");
    this.queue = [];
    this.timer = null;
    this.retryMs = 1000;
    this.fetch = opts.fetch || (root.fetch && root.fetch.bind(root));
    this.beacon = opts.sendBeacon || (root.navigator && root.navigator.sendBeacon && root.navigator.sendBeacon.bind(root.navigator));
  }

  Sender.prototype.push = function (event) {
    if (this.queue.length >= MAX_QUEUE) this.queue.shift();
    this.queue.push(event);
    var self = this;
    if (!this.timer) this.timer = setTimeout(function () { self.timer = null; self.flush(false); }, BATCH_MS);
  };

  Sender.prototype.body = function (events) {
    return JSON.stringify({ sent_at: now(), events: events });
  };

  /** Sends what is queued; `leaving` (page hide) uses a beacon, which outlives the page. */
  Sender.prototype.flush = function (leaving) {
    if (!this.queue.length) return;
    var events = this.queue.splice(0, this.queue.length);
    var body = this.body(events);
    if (leaving && this.beacon && this.beacon(this.url, new Blob([body], { type: "text/plain" }))) return;
    if (!this.fetch) return;
    var self = this;
    this.fetch(this.url, { method: "POST", body: body, keepalive: leaving, headers: { "Content-Type": "text/plain" }, credentials: "omit" })
      .then(function (r) {
        // 4xx other than 408/429: the events are wrong and sending them again will not help.
        if (r.status >= 500 || r.status === 408 || r.status === 429) throw new Error("status " + r.status);
        self.retryMs = 1000;
      })
      .catch(function () { self.retry(events); });
  };

  Sender.prototype.retry = function (events) {
    this.queue = events.concat(this.queue).slice(-MAX_QUEUE);
    var self = this;
    var wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, 60000);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.timer = null; self.flush(false); }, wait);
  };

  /**
   * One tracked media element. Reports the spec's events: `player_loaded`;
   * `playback_start` with a fresh playback id; `play`; `playing` with
   * `duration` 0 at the first frame, then every 10 s and before every pause,
   * seek, end and page hide (so no report spans a seek); `pause`; `seek`;
   * `buffering` with the seconds stalled; `content_end`; `error`.
   */
  function Tracker(media, opts, sender) {
    this.media = media;
    this.opts = opts;
    this.sender = sender;
    this.playbackId = null;
    this.playingSince = null; // wall-clock ms of the last report while playing
    this.stalledSince = null;
    this.heartbeat = null;
    this.started = false;
    this.bitrate = null;
    this.bandwidth = null;
    this.listeners = [];
    this.attach();
    this.emit("player_loaded", {});
  }

  Tracker.prototype.base = function () {
    var o = this.opts;
    var e = { ts: now(), content_id: o.contentId };
    if (this.playbackId) e.playback_id = this.playbackId;
    if (o.contentKind) e.content_kind = o.contentKind;
    if (o.media) e.media = o.media;
    else e.media = this.media.tagName && this.media.tagName.toLowerCase() === "audio" ? "audio" : "video";
    // The server applies the precedence of spec §1 when no property is sent.
    if (o.property) e.property = o.property;
    if (o.userId) e.user_id = o.userId;
    if (o.accessCode) e.access_code = o.accessCode;
    if (o.accessToken) e.access_token = o.accessToken;
    if (root.document && root.document.referrer) e.referrer = root.document.referrer;
    var d = o.dimensions || {};
    for (var k in d) if (Object.prototype.hasOwnProperty.call(d, k) && !(k in e)) e[k] = d[k];
    return e;
  };

  Tracker.prototype.emit = function (type, extra) {
    var e = this.base();
    e.type = type;
    var p = this.media.currentTime;
    if (typeof p === "number" && isFinite(p)) e.position = round(p);
    if (this.bitrate != null) e.bitrate = this.bitrate;
    if (this.bandwidth != null) e.bandwidth = this.bandwidth;
    for (var k in extra) e[k] = extra[k];
    this.sender.push(e);
    return e;
  };

  /** Reports the playing time since the last report (none when not playing). */
  Tracker.prototype.report = function () {
    if (this.playingSince == null) return;
    var t = Date.now();
    var seconds = (t - this.playingSince) / 1000;
    this.playingSince = t;
    if (seconds > 0) this.emit("playing", { duration: round(seconds) });
  };

  Tracker.prototype.stopPlaying = function () {
    this.report();
    this.playingSince = null;
    if (this.heartbeat) { clearInterval(this.heartbeat); this.heartbeat = null; }
  };

  Tracker.prototype.stallEnded = function () {
    if (this.stalledSince == null) return;
    var seconds = (Date.now() - this.stalledSince) / 1000;
    this.stalledSince = null;
    this.emit("buffering", { duration: round(seconds) });
  };

  Tracker.prototype.on = function (target, name, fn) {
    var self = this;
    var bound = function (ev) { fn.call(self, ev); };
    target.addEventListener(name, bound);
    this.listeners.push([target, name, bound]);
  };

  Tracker.prototype.attach = function () {
    var m = this.media;
    this.on(m, "play", function () {
      if (!this.started) {
        this.playbackId = freshId();
        this.started = true;
        this.emit("playback_start", {});
      }
      if (this.playAt == null) this.playAt = Date.now();
      this.emit("play", {});
    });
    this.on(m, "playing", function () {
      this.stallEnded();
      if (this.playingSince != null) return;
      // The first frame (or playing again): a report of no time opens the interval.
      this.playingSince = Date.now();
      var first = { duration: 0 };
      // Spec §8d: the start's first frame; the SDK measures its startup on one clock.
      if (this.playAt != null && !this.begun) {
        first.startup = round((this.playingSince - this.playAt) / 1000);
        this.begun = true;
      }
      this.emit("playing", first);
      var self = this;
      this.heartbeat = setInterval(function () { self.report(); }, HEARTBEAT_MS);
    });
    this.on(m, "pause", function () {
      if (m.ended) return;
      this.stopPlaying();
      this.emit("pause", {});
    });
    this.on(m, "seeking", function () {
      this.stopPlaying();
      this.emit("seek", {});
    });
    this.on(m, "waiting", function () {
      this.stopPlaying();
      if (this.stalledSince == null) this.stalledSince = Date.now();
    });
    this.on(m, "ended", function () {
      this.stopPlaying();
      this.emit("content_end", {});
      // The next play is a new playback.
      this.started = false;
      this.playbackId = null;
      this.playAt = null;
      this.begun = false;
    });
    this.on(m, "error", function () {
      var err = m.error;
      this.stopPlaying();
      this.emit("error", { fatal: true, code: err ? String(err.code) : "unknown" });
    });
    var self = this;
    if (root.document) {
      this.on(root.document, "visibilitychange", function () {
        if (root.document.visibilityState === "hidden") { self.report(); self.sender.flush(true); }
      });
    }
    if (root.addEventListener) {
      this.on(root, "pagehide", function () { self.report(); self.sender.flush(true); });
    }
  };

  /** What a player library knows and the element does not: bitrate, bandwidth, fatal errors. */
  Tracker.prototype.setBitrate = function (kbps) {
    if (kbps == null || Math.round(kbps) === this.bitrate) return;
    // The time played so far was at the old bitrate: report it before the switch.
    this.report();
    this.bitrate = Math.round(kbps);
  };
  Tracker.prototype.setBandwidth = function (kbps) { if (kbps != null) this.bandwidth = Math.round(kbps); };
  Tracker.prototype.playerError = function (fatal, code) {
    if (fatal) this.stopPlaying();
    this.emit("error", { fatal: !!fatal, code: String(code || "unknown") });
  };

  /** Stops tracking: reports what was played, sends what is queued. */
  Tracker.prototype.detach = function () {
    this.stopPlaying();
    for (var i = 0; i < this.listeners.length; i++) {
      var l = this.listeners[i];
      l[0].removeEventListener(l[1], l[2]);
    }
    this.listeners = [];
    this.sender.flush(false);
  };

  var adapters = {
    /** hls.js: levels' bitrate, the bandwidth estimate, fatal errors. */
    hlsjs: function (hls, t) {
      var E = hls.constructor && hls.constructor.Events || {};
      hls.on(E.LEVEL_SWITCHED || "hlsLevelSwitched", function (_, d) {
        var level = hls.levels && hls.levels[d.level];
        if (level && level.bitrate) t.setBitrate(level.bitrate / 1000);
      });
      hls.on(E.FRAG_LOADED || "hlsFragLoaded", function () {
        if (hls.bandwidthEstimate) t.setBandwidth(hls.bandwidthEstimate / 1000);
      });
      hls.on(E.ERROR || "hlsError", function (_, d) { t.playerError(d.fatal, d.details || d.type); });
    },
    /** dash.js: v5 names the new representation; v4 its index in a list. */
    dashjs: function (player, t) {
      player.on("qualityChangeRendered", function (e) {
        var rep = e.newRepresentation, list = !rep && player.getBitrateInfoListFor && player.getBitrateInfoListFor(e.mediaType);
        var bps = rep ? rep.bandwidth : list && list[e.newQuality] && list[e.newQuality].bitrate;
        if (bps && e.mediaType === "video") t.setBitrate(bps / 1000);
      });
      player.on("error", function (e) { t.playerError(true, e.error && (e.error.code || e.error)); });
    },
    /** Shaka Player. */
    shaka: function (player, t) {
      player.addEventListener("adaptation", function () {
        var s = player.getStats();
        if (s.streamBandwidth) t.setBitrate(s.streamBandwidth / 1000);
        if (s.estimatedBandwidth) t.setBandwidth(s.estimatedBandwidth / 1000);
      });
      player.addEventListener("error", function (e) {
        var d = e.detail || {};
        t.playerError(d.severity === 2, d.code);
      });
    },
    /** video.js: its tech's element is tracked; errors come from the player. */
    videojs: function (player, t) {
      player.on("error", function () {
        var err = player.error();
        t.playerError(true, err ? err.code : "unknown");
      });
    }
  };

  /**
   * streamtally.track(mediaOrPlayer, options) → tracker.
   * options: key (ingest key, required), endpoint, contentId (required),
   * contentKind ("live"|"vod"|"dar"), media ("video"|"audio"), property,
   * userId, accessCode or accessToken, dimensions {…},
   * and with a player library: hls | dash | shaka | videojs (its instance).
   */
  function track(media, opts) {
    opts = opts || {};
    if (opts.videojs && !media.addEventListener) media = opts.videojs.tech({ IWillNotUseThisInPlugins: true }).el();
    var t = new Tracker(media, opts, new Sender(opts));
    if (opts.hls) adapters.hlsjs(opts.hls, t);
    if (opts.dash) adapters.dashjs(opts.dash, t);
    if (opts.shaka) adapters.shaka(opts.shaka, t);
    if (opts.videojs) adapters.videojs(opts.videojs, t);
    return t;
  }

  var api = { track: track, version: "0.1.0" };
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.streamtally = api;
})(typeof window !== "undefined" ? window : globalThis);
