/* Search with suggestions (宗地代码, 不动产单元号, permit and contract numbers by prefix; 坐落/project by
   substring). An ARIA combobox: arrows move, Enter selects, Esc closes. Selecting zooms to the record,
   highlights it and shows it in the identify panel. */
(function () {
  "use strict";
  var OM = window.OneMap;
  var input, list, results = [], active = -1, timer = null, pending = null;

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function mark(i) {
    var items = list.querySelectorAll("li[role=option]");
    items.forEach(function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
    active = i;
    if (items[i]) {
      input.setAttribute("aria-activedescendant", items[i].id);
      items[i].scrollIntoView({ block: "nearest" });
    }
  }

  function show(data) {
    results = data.results || [];
    list.innerHTML = "";
    if (!results.length) {
      list.appendChild(OM.el("li", { class: "none" }, OM.t("search_none")));
    }
    results.forEach(function (r, i) {
      var li = OM.el("li", { role: "option", id: "search-opt-" + i, "aria-selected": "false", "data-kind": r.kind, "data-value": r.value });
      li.appendChild(OM.el("span", { class: "kind" }, OM.t("kind_" + r.kind)));
      li.appendChild(OM.el("span", { class: "label" }, r.label || r.value));
      li.appendChild(OM.el("span", { class: "layer" }, OM.cfg.lang === "en" ? r.title_en : r.title_zh));
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
      list.appendChild(li);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
  }

  function query() {
    var q = input.value.trim();
    if (q.length < 2) { close(); return; }
    if (pending) pending.abort();
    pending = new AbortController();
    OM.api(OM.url("search", {}, { q: q, limit: 10 }), { signal: pending.signal }).then(show, function (err) {
      if (err && err.name === "AbortError") return;
      list.innerHTML = "";
      list.appendChild(OM.el("li", { class: "none error" }, err.message));
      list.hidden = false;
    });
  }

  function choose(i) {
    var r = results[i];
    if (!r) return;
    close();
    input.value = r.value;
    if (r.bbox) {
      OM.map.fitBounds([[r.bbox[1], r.bbox[0]], [r.bbox[3], r.bbox[2]]], { maxZoom: 18, padding: [40, 40] });
    }
    OM.feature(r.layer, r.id).then(
      function (feature) {
        if (OM.overlays[r.layer] && !OM.overlays[r.layer].on) OM.setOverlay(r.layer, true);
        OM.highlight(feature, { zoom: !r.bbox });
        OM.showRecord(r.layer, feature);
      },
      function (err) { OM.toast(err.message, "error"); }
    );
  }

  OM.initSearch = function () {
    input = document.getElementById("search-input");
    list = document.getElementById("search-list");
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(query, 200);
    });
    input.addEventListener("keydown", function (ev) {
      var n = results.length;
      if (ev.key === "ArrowDown" && n) { ev.preventDefault(); if (list.hidden) query(); mark((active + 1) % n); }
      else if (ev.key === "ArrowUp" && n) { ev.preventDefault(); mark((active - 1 + n) % n); }
      else if (ev.key === "Enter") {
        ev.preventDefault();
        if (active >= 0) choose(active);
        else if (!list.hidden && n) choose(0);
        else { clearTimeout(timer); query(); }
      } else if (ev.key === "Escape") close();
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  };
})();
