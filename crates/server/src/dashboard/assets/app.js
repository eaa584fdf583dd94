// streamtally dashboard: live figures from the SSE stream, sortable tables,
// zooming a chart by dragging. The page works without it.
(function () {
  "use strict";

  // Live: the API's stream (the session's cookie authorises the read).
  var live = document.querySelector("[data-live]");
  if (live && window.EventSource) {
    var source = new EventSource(live.getAttribute("data-live"));
    source.addEventListener("live", function (e) {
      var now = JSON.parse(e.data);
      var total = live.querySelector("[data-live-total]");
      live.setAttribute("data-updated", String(Date.now()));
      if (total) total.textContent = now.viewers;
      var body = live.querySelector("tbody");
      if (!body) return;
      body.textContent = "";
      (now.contents || []).forEach(function (c) {
        var tr = document.createElement("tr");
        [c.content_id, c.title == null ? "—" : c.title, c.viewers, c.peak].forEach(function (v, i) {
          var td = document.createElement(i === 0 ? "th" : "td");
          if (i === 0) td.setAttribute("scope", "row");
          td.textContent = v;
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
    });
  }

  // Sorting: a click on a heading sorts by that column (again: the other way).
  document.querySelectorAll("table").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        if (!body) return;
        var down = th.getAttribute("aria-sort") !== "descending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", down ? "descending" : "ascending");
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (r) { var t = r.cells[col] ? r.cells[col].textContent : ""; var n = parseFloat(t); return isNaN(n) ? t : n; };
        rows.sort(function (a, b) { var x = key(a), y = key(b); var c = x < y ? -1 : x > y ? 1 : 0; return down ? -c : c; });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  // Zoom: drag across a time series to look closer; double-click to go back.
  document.querySelectorAll("svg[data-zoom]").forEach(function (svg) {
    var full = svg.getAttribute("viewBox");
    var start = null;
    var toX = function (e) {
      var box = svg.getBoundingClientRect();
      var vb = svg.viewBox.baseVal;
      return vb.x + (e.clientX - box.left) / box.width * vb.width;
    };
    svg.addEventListener("pointerdown", function (e) { start = toX(e); });
    svg.addEventListener("pointerup", function (e) {
      if (start == null) return;
      var end = toX(e);
      var a = Math.min(start, end), b = Math.max(start, end);
      start = null;
      if (b - a < 10) return;
      var vb = svg.viewBox.baseVal;
      svg.setAttribute("viewBox", a + " " + vb.y + " " + (b - a) + " " + vb.height);
      svg.setAttribute("preserveAspectRatio", "none");
    });
    svg.addEventListener("dblclick", function () { svg.setAttribute("viewBox", full); svg.removeAttribute("preserveAspectRatio"); });
  });

  // The custom dates matter only with a custom range.
  var range = document.querySelector("form.view select[name=range]");
  if (range) {
    var dates = document.querySelectorAll("form.view input[type=date]");
    var show = function () { dates.forEach(function (d) { d.parentNode.hidden = range.value !== "custom"; }); };
    range.addEventListener("change", show);
    show();
  }
})();
