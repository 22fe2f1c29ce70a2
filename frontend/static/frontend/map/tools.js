/* Tools: coordinates under the cursor in CGCS2000 lon/lat and in the 3° Gauss-Krüger zone (as the
   business systems record them); locate by either; measure length and area in metres in the GK zone (not
   on the Web Mercator plane, which is ~15 % off at Chongqing's latitude); swipe compare of two layers; the
   records a load changed, by run or by date. */
(function () {
  "use strict";
  var OM = window.OneMap;
  var cfg = OM.cfg;

  // ---- Gauss-Krüger 3° zones of CGCS2000 (EPSG:4513–4533: zone n has central meridian 3n, false easting n*1e6+5e5)
  function gkDef(zone) {
    return "+proj=tmerc +lat_0=0 +lon_0=" + zone * 3 + " +k=1 +x_0=" + (zone * 1000000 + 500000) + " +y_0=0 +ellps=GRS80 +units=m +no_defs";
  }
  OM.gkZone = function (lon) { return Math.round(lon / 3); };
  /** lon/lat -> {zone, x: northing, y: easting with the zone prefix} */
  OM.toGK = function (lon, lat, zone) {
    zone = zone || OM.gkZone(lon);
    var p = proj4("EPSG:4490", gkDef(zone), [lon, lat]);
    return { zone: zone, x: p[1], y: p[0] };
  };
  OM.fromGK = function (x, y) {
    var zone = Math.floor(y / 1000000);
    var p = proj4(gkDef(zone), "EPSG:4490", [y, x]);
    return { lon: p[0], lat: p[1] };
  };
  proj4.defs("EPSG:4490", "+proj=longlat +ellps=GRS80 +no_defs");

  function fmtLength(m) {
    return m >= 1000 ? OM.number(m / 1000, 3) + " km" : OM.number(m, 2) + " m";
  }
  function fmtArea(m2) {
    return OM.number(m2, 1) + " m² · " + OM.number(m2 / 666.6667, 3) + " 亩 · " + OM.number(m2 / 10000, 4) + " 公顷";
  }

  OM.initCoords = function () {
    var lonlat = document.getElementById("coords-lonlat");
    var gk = document.getElementById("coords-gk");
    var zoomEl = document.getElementById("zoom-level");
    OM.map.on("mousemove", function (ev) {
      var ll = ev.latlng;
      lonlat.textContent = "CGCS2000 " + ll.lng.toFixed(6) + "°E " + ll.lat.toFixed(6) + "°N";
      var p = OM.toGK(ll.lng, ll.lat);
      gk.textContent = OM.t("gk_zone", { zone: p.zone }) + "  X=" + p.x.toFixed(2) + "  Y=" + p.y.toFixed(2);
    });
    var showZoom = function () { zoomEl.textContent = "z" + OM.map.getZoom(); };
    OM.map.on("zoomend", showZoom);
    showZoom();
  };

  /** "106.55,29.56" (lon,lat) or "3272000,35456000" (X north, Y east with zone) -> lon/lat or null */
  OM.parseLocation = function (text) {
    var parts = String(text).trim().split(/[\s,，;；]+/).map(Number);
    if (parts.length !== 2 || parts.some(function (v) { return !isFinite(v); })) return null;
    var a = parts[0], b = parts[1];
    if (Math.abs(a) <= 180 && Math.abs(b) <= 90) return { lon: a, lat: b };
    if (Math.abs(b) <= 180 && Math.abs(a) <= 90) return { lon: b, lat: a };
    if (a > 1e6 && a < 1e7 && b > 1.3e7 && b < 1e8) return OM.fromGK(a, b);
    if (b > 1e6 && b < 1e7 && a > 1.3e7 && a < 1e8) return OM.fromGK(b, a);
    return null;
  };

  function initLocate() {
    var form = document.getElementById("locate");
    var error = document.getElementById("locate-error");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var p = OM.parseLocation(form.xy.value);
      error.hidden = !!p;
      if (!p) { error.textContent = OM.t("locate_bad"); return; }
      var ll = L.latLng(p.lat, p.lon);
      OM.map.setView(ll, Math.max(OM.map.getZoom(), 16));
      if (OM.locateMarker) OM.map.removeLayer(OM.locateMarker);
      OM.locateMarker = L.circleMarker(ll, { radius: 8, color: "#0ea5e9", weight: 3, pane: "highlight" }).addTo(OM.map);
    });
  }

  // ---- measuring
  var measure = { mode: null, points: [], layer: null };
  OM.measuring = function () { return !!measure.mode; };

  /** length (m) of a lon/lat path and area (m²) of the ring, computed in the GK zone of its first vertex */
  OM.measureGK = function (latlngs, closed) {
    if (!latlngs.length) return { length: 0, area: 0 };
    var zone = OM.gkZone(latlngs[0].lng);
    var pts = latlngs.map(function (ll) { var p = OM.toGK(ll.lng, ll.lat, zone); return [p.y, p.x]; });
    var length = 0, area = 0, i;
    for (i = 1; i < pts.length; i++) length += Math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]);
    if (closed && pts.length > 2) {
      length += Math.hypot(pts[0][0] - pts[pts.length - 1][0], pts[0][1] - pts[pts.length - 1][1]);
      for (i = 0; i < pts.length; i++) {
        var j = (i + 1) % pts.length;
        area += pts[i][0] * pts[j][1] - pts[j][0] * pts[i][1];
      }
    }
    return { length: length, area: Math.abs(area) / 2 };
  };

  function redraw(cursor) {
    var pts = measure.points.slice();
    if (cursor) pts.push(cursor);
    if (measure.layer) OM.map.removeLayer(measure.layer);
    var style = { color: "#0f172a", weight: 2, dashArray: "6 4", pane: "highlight", interactive: false };
    measure.layer = measure.mode === "area" && pts.length > 2 ? L.polygon(pts, style) : L.polyline(pts, style);
    measure.layer.addTo(OM.map);
    var r = OM.measureGK(pts, measure.mode === "area");
    var out = document.getElementById("measure-result");
    out.textContent = measure.mode === "area" ? OM.t("area") + " " + fmtArea(r.area) + " · " + OM.t("length") + " " + fmtLength(r.length) : OM.t("length") + " " + fmtLength(r.length);
    out.dataset.length = String(r.length);
    out.dataset.area = String(r.area);
  }

  function stopMeasure(clear) {
    measure.mode = null;
    OM.map.doubleClickZoom.enable();
    OM.map.getContainer().classList.remove("measuring");
    if (clear) {
      if (measure.layer) OM.map.removeLayer(measure.layer);
      measure.layer = null;
      measure.points = [];
      document.getElementById("measure-result").textContent = "";
    }
  }

  function startMeasure(mode) {
    stopMeasure(true);
    measure.mode = mode;
    OM.map.doubleClickZoom.disable();
    OM.map.getContainer().classList.add("measuring");
  }

  function initMeasure() {
    document.getElementById("measure-length").addEventListener("click", function () { startMeasure("length"); });
    document.getElementById("measure-area").addEventListener("click", function () { startMeasure("area"); });
    document.getElementById("measure-clear").addEventListener("click", function () { stopMeasure(true); });
    OM.map.on("click", function (ev) {
      if (!measure.mode) return;
      measure.points.push(ev.latlng);
      redraw();
    });
    OM.map.on("mousemove", function (ev) { if (measure.mode && measure.points.length) redraw(ev.latlng); });
    OM.map.on("dblclick", function () {
      if (!measure.mode) return;
      redraw();
      stopMeasure(false);
    });
    document.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && measure.mode) stopMeasure(true); });
  }

  // ---- swipe compare: two tile layers in their own panes, clipped left/right of a draggable divider
  var cmp = { on: false, left: null, right: null, x: 0.5 };

  function clip() {
    if (!cmp.on) return;
    var map = OM.map;
    var size = map.getSize();
    var nw = map.containerPointToLayerPoint([0, 0]);
    var se = map.containerPointToLayerPoint(size);
    var cx = nw.x + size.x * cmp.x;
    map.getPane("compareLeft").style.clip = "rect(" + [nw.y, cx, se.y, nw.x].join("px,") + "px)";
    map.getPane("compareRight").style.clip = "rect(" + [nw.y, se.x, se.y, cx].join("px,") + "px)";
    cmp.divider.style.left = size.x * cmp.x + "px";
  }

  function compareOptions() {
    var names = Object.keys(cfg.layers).filter(function (n) { return n !== "findings"; });
    ["compare-left", "compare-right"].forEach(function (id, i) {
      var sel = document.getElementById(id);
      names.forEach(function (n) { sel.appendChild(OM.el("option", { value: n }, cfg.layers[n].title)); });
      if (names[i]) sel.value = names.indexOf("permits") >= 0 && i === 1 ? "permits" : names[i === 0 ? 0 : Math.min(1, names.length - 1)];
    });
  }

  function stopCompare() {
    cmp.on = false;
    [cmp.left, cmp.right].forEach(function (l) { if (l) OM.map.removeLayer(l); });
    cmp.left = cmp.right = null;
    if (cmp.divider) cmp.divider.hidden = true;
    OM.map.getPane("compareLeft").style.clip = "";
    OM.map.getPane("compareRight").style.clip = "";
    document.getElementById("compare-toggle").textContent = OM.t("compare_on");
    document.getElementById("onemap").classList.remove("comparing");
  }

  function startCompare() {
    var left = document.getElementById("compare-left").value;
    var right = document.getElementById("compare-right").value;
    var error = document.getElementById("compare-error");
    error.hidden = left !== right;
    if (left === right) { error.textContent = OM.t("compare_same"); return; }
    cmp.left = OM.makeLayer(cfg.layers[left], "compareLeft").addTo(OM.map);
    cmp.right = OM.makeLayer(cfg.layers[right], "compareRight").addTo(OM.map);
    cmp.on = true;
    cmp.divider.hidden = false;
    cmp.divider.dataset.left = left;
    cmp.divider.dataset.right = right;
    cmp.divider.querySelector(".cap.left").textContent = "← " + cfg.layers[left].title;
    cmp.divider.querySelector(".cap.right").textContent = cfg.layers[right].title + " →";
    document.getElementById("compare-toggle").textContent = OM.t("compare_off");
    document.getElementById("onemap").classList.add("comparing");
    clip();
  }

  function initCompare() {
    compareOptions();
    var map = OM.map;
    var divider = OM.el("div", { class: "compare-divider", role: "slider", tabindex: "0", "aria-label": OM.t("compare"), "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "50" });
    divider.hidden = true;
    divider.appendChild(OM.el("span", { class: "handle" }, "⇔"));
    divider.appendChild(OM.el("span", { class: "cap left" }));
    divider.appendChild(OM.el("span", { class: "cap right" }));
    map.getContainer().appendChild(divider);
    cmp.divider = divider;
    L.DomEvent.disableClickPropagation(divider);
    var dragging = false;
    divider.addEventListener("pointerdown", function (ev) { dragging = true; divider.setPointerCapture(ev.pointerId); map.dragging.disable(); });
    divider.addEventListener("pointermove", function (ev) {
      if (!dragging) return;
      var rect = map.getContainer().getBoundingClientRect();
      cmp.x = Math.max(0.02, Math.min(0.98, (ev.clientX - rect.left) / rect.width));
      divider.setAttribute("aria-valuenow", String(Math.round(cmp.x * 100)));
      clip();
    });
    divider.addEventListener("pointerup", function () { dragging = false; map.dragging.enable(); });
    divider.addEventListener("keydown", function (ev) {
      if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") {
        cmp.x = Math.max(0.02, Math.min(0.98, cmp.x + (ev.key === "ArrowLeft" ? -0.05 : 0.05)));
        divider.setAttribute("aria-valuenow", String(Math.round(cmp.x * 100)));
        clip();
        ev.preventDefault();
      }
    });
    map.on("move zoomend resize", clip);
    document.getElementById("compare-toggle").addEventListener("click", function () {
      if (cmp.on) stopCompare();
      else startCompare();
    });
  }

  // ---- what a load changed: features of a layer by load run or load date, in the current view
  function initTimeFilter() {
    var form = document.getElementById("timefilter");
    var out = document.getElementById("timefilter-result");
    ["parcels", "buildings", "permits", "landsupply"].forEach(function (n) {
      if (cfg.layers[n]) form.layer.appendChild(OM.el("option", { value: n }, cfg.layers[n].title));
    });
    var runsLoaded = false;
    form.run.addEventListener("focus", function () {
      if (runsLoaded) return;
      runsLoaded = true;
      OM.api(OM.url("loads", {}, { limit: 50 })).then(function (data) {
        (data.results || []).forEach(function (r) {
          var when = r.finished_at ? new Date(r.finished_at).toLocaleString(cfg.lang === "en" ? "en-GB" : "zh-CN") : "";
          form.run.appendChild(OM.el("option", { value: String(r.id), "data-system": r.system }, "#" + r.id + " " + OM.systemTitle(r.system) + " " + when));
        });
      }, function (err) { OM.toast(err.message, "error"); });
    });
    var layer = null;
    function clear() {
      if (layer) OM.map.removeLayer(layer);
      layer = null;
      out.textContent = "";
    }
    document.getElementById("timefilter-clear").addEventListener("click", clear);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clear();
      var b = OM.map.getBounds();
      var q = { bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(","), limit: 2000 };
      if (form.run.value) q.load_run = form.run.value;
      if (form.from.value) q.loaded_at__gte = form.from.value;
      if (form.to.value) q.loaded_at__lte = form.to.value + "T23:59:59";
      out.textContent = OM.t("loading");
      OM.api(OM.url("features", { layer: form.layer.value }, q)).then(
        function (data) {
          layer = L.geoJSON(data, { pane: "highlight", style: { color: "#f97316", weight: 2, dashArray: "5 3", fillColor: "#fb923c", fillOpacity: 0.35 }, interactive: false }).addTo(OM.map);
          out.textContent = data.count ? OM.t("time_count", { n: OM.number(data.count, 0) }) : OM.t("time_none");
          out.dataset.count = String(data.count);
        },
        function (err) { out.textContent = err.message; }
      );
    });
  }

  OM.initTools = function () {
    OM.initCoords();
    initLocate();
    initMeasure();
    initCompare();
    initTimeFilter();
  };
})();
