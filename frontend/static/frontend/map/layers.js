/* Base maps and the layer switcher: overlays grouped by business system, each with its legend swatch,
   opacity, feature count and zoom range. Raster WMTS (MapProxy) or vector tiles (ST_AsMVT) per the
   registry; check findings per rule from the checks API (always current). */
(function () {
  "use strict";
  var OM = window.OneMap;
  var cfg = OM.cfg;
  OM.overlays = {}; // name -> {layer, entry, opacity, on}

  function tdt(kind, key) {
    // 天地图 web-Mercator WMTS; only offered when an operator configured a key (online, optional)
    return L.tileLayer(
      "https://t{s}.tianditu.gov.cn/" + kind + "_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=" +
        kind + "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + key,
      { subdomains: "01234567", maxZoom: 18, attribution: "© 天地图" }
    );
  }

  OM.buildBases = function (counties) {
    var map = OM.map;
    var countyLayer = L.geoJSON(counties, {
      pane: "basePane",
      style: function () {
        return { color: "#94a3b8", weight: 1, fillColor: "#eef2f7", fillOpacity: 1 };
      },
      onEachFeature: function (feature, lyr) {
        lyr.bindTooltip(feature.properties.name + " " + feature.properties.code, { sticky: true });
      },
    });
    var bases = [{ key: "light", title: OM.t("base_light"), layer: countyLayer }, { key: "none", title: OM.t("base_none"), layer: null }];
    if (cfg.tianditu_key) {
      bases.push({ key: "tdt_vec", title: OM.t("base_tdt_vec"), layer: L.layerGroup([tdt("vec", cfg.tianditu_key), tdt("cva", cfg.tianditu_key)]) });
      bases.push({ key: "tdt_img", title: OM.t("base_tdt_img"), layer: L.layerGroup([tdt("img", cfg.tianditu_key), tdt("cia", cfg.tianditu_key)]) });
    }
    var list = document.getElementById("base-list");
    var current = null;
    bases.forEach(function (b, i) {
      var id = "base-" + b.key;
      var label = OM.el("label", { class: "base", for: id });
      var input = OM.el("input", { type: "radio", name: "base", id: id, value: b.key });
      if (i === 0) input.checked = true;
      input.addEventListener("change", function () {
        if (current && current.layer) map.removeLayer(current.layer);
        current = b;
        if (b.layer) b.layer.addTo(map);
      });
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + b.title));
      list.appendChild(label);
    });
    current = bases[0];
    countyLayer.addTo(map);
    OM.countyLayer = countyLayer;
    return countyLayer;
  };

  function vectorStyle(entry) {
    var s = entry.style;
    var base = {
      weight: s.stroke_width || 1,
      color: s.stroke,
      opacity: 1,
      fill: !!s.fill,
      fillColor: s.fill || s.stroke,
      fillOpacity: s.fill ? s.fill_opacity : 0,
    };
    var styles = {};
    styles[entry.name] = function (props, zoom, geometryDimension) {
      if (geometryDimension === 1) return { radius: 5, fill: true, fillColor: s.stroke, fillOpacity: 0.8, color: s.stroke, weight: 1 };
      return base;
    };
    return styles;
  }

  /** A Leaflet layer for a registry entry, in the given pane. */
  OM.makeLayer = function (entry, pane) {
    var opts = { pane: pane || "overlayTiles", minZoom: entry.min_zoom, maxZoom: 22, maxNativeZoom: Math.min(entry.max_zoom, 20) };
    var layer;
    if (entry.render === "wmts") {
      opts.maxNativeZoom = Math.min(entry.max_zoom, 19);
      layer = L.tileLayer(cfg.urls.wmts.replace("{layer}", entry.name), opts);
    } else {
      opts.vectorTileLayerStyles = vectorStyle(entry);
      opts.interactive = false;
      opts.rendererFactory = L.canvas.tile;
      opts.maxNativeZoom = Math.min(entry.max_zoom, 18);
      layer = L.vectorGrid.protobuf(cfg.urls.mvt.replace("{layer}", entry.name), opts);
    }
    layer.on("tileerror", function () { OM.serviceState(OM.t("service_down")); });
    layer.on("tileload", function () { OM.serviceState(null); });
    return layer;
  };

  OM.serviceState = function (message) {
    var el = document.getElementById("service-state");
    if (!el) return;
    el.hidden = !message;
    el.textContent = message || "";
  };

  function swatch(style, stroke) {
    var sw = OM.el("span", { class: "swatch", "aria-hidden": "true" });
    sw.style.borderColor = stroke || style.stroke;
    sw.style.borderWidth = Math.max(1, Math.min(3, style.stroke_width || 1)) + "px";
    if (style.fill) {
      sw.style.background = style.fill;
      sw.style.opacity = String(Math.max(0.35, Math.min(1, (style.fill_opacity || 0.25) * 2.5)));
    }
    return sw;
  }

  function setOpacity(item, value) {
    item.opacity = value;
    var l = item.layer;
    if (!l) return;
    if (l.setOpacity) l.setOpacity(value);
    else if (l.setStyle) l.setStyle({ opacity: value, fillOpacity: value * 0.35 });
  }

  function layerRow(name, entry, item, container) {
    var row = OM.el("div", { class: "layer-row", "data-layer": name });
    var id = "layer-" + name;
    var label = OM.el("label", { for: id, class: "layer-name" });
    var input = OM.el("input", { type: "checkbox", id: id, "data-layer": name });
    input.checked = !!item.on;
    label.appendChild(input);
    label.appendChild(swatch(entry.style));
    label.appendChild(OM.el("span", { class: "title" }, entry.title));
    if (entry.count !== null && entry.count !== undefined) {
      label.appendChild(OM.el("span", { class: "count" }, (entry.count_estimated ? "≈" : "") + OM.number(entry.count, 0)));
    }
    row.appendChild(label);
    var meta = OM.el("div", { class: "layer-meta" });
    var range = OM.el("input", { type: "range", min: "0", max: "100", value: String(Math.round(item.opacity * 100)), "aria-label": OM.t("opacity") + " " + entry.title });
    range.addEventListener("input", function () { setOpacity(item, Number(range.value) / 100); });
    meta.appendChild(OM.el("span", { class: "zoomnote" }, entry.min_zoom > 0 ? OM.t("visible_from", { z: entry.min_zoom }) : ""));
    meta.appendChild(range);
    row.appendChild(meta);
    input.addEventListener("change", function () { OM.setOverlay(name, input.checked); });
    container.appendChild(row);
    item.row = row;
    item.input = input;
  }

  OM.setOverlay = function (name, on) {
    var item = OM.overlays[name];
    if (!item) return;
    item.on = on;
    if (item.input) item.input.checked = on;
    if (!item.layer && on) {
      item.layer = item.create();
      setOpacity(item, item.opacity);
    }
    if (item.layer) {
      if (on && !OM.map.hasLayer(item.layer)) item.layer.addTo(OM.map);
      if (!on && OM.map.hasLayer(item.layer)) OM.map.removeLayer(item.layer);
    }
    OM.updateZoomNotes();
  };

  OM.updateZoomNotes = function () {
    var z = OM.map.getZoom();
    Object.keys(OM.overlays).forEach(function (name) {
      var item = OM.overlays[name];
      if (!item.row) return;
      var out = item.minZoom && z < item.minZoom;
      item.row.classList.toggle("out-of-range", !!out);
      var note = item.row.querySelector(".zoomnote");
      if (note && item.minZoom) note.textContent = out ? OM.t("zoom_in_to_see", { z: item.minZoom }) : OM.t("visible_from", { z: item.minZoom });
    });
  };

  OM.buildSwitcher = function () {
    var root = document.getElementById("layer-groups");
    cfg.groups.forEach(function (group) {
      var fs = OM.el("fieldset", { class: "group", "data-group": group.key });
      fs.appendChild(OM.el("legend", null, group.title));
      group.layers.forEach(function (name) {
        var entry = cfg.layers[name];
        var item = { on: entry.on, opacity: 1, minZoom: entry.min_zoom, entry: entry, create: function () { return OM.makeLayer(entry); } };
        OM.overlays[name] = item;
        layerRow(name, entry, item, fs);
      });
      if (group.key === "checks") OM.findingsGroup = fs;
      root.appendChild(fs);
    });
    Object.keys(OM.overlays).forEach(function (name) {
      if (OM.overlays[name].on) OM.setOverlay(name, true);
    });
    OM.map.on("zoomend", OM.updateZoomNotes);
  };

  var STATUS_COLORS = { new: "#dc2626", reopened: "#dc2626", confirmed: "#ea580c", exception: "#64748b", fixed: "#16a34a", verified: "#0f766e" };
  OM.statusColor = function (s) { return STATUS_COLORS[s] || "#dc2626"; };
  /** A finding status in the page's language (titles from the server: checks.models, one source). */
  OM.statusTitle = function (s) {
    var t = cfg.statuses[s];
    return t ? (cfg.lang === "en" ? t.en : t.zh) : s;
  };

  /** One overlay per rule: the open findings of that rule as GeoJSON (clickable: opens the review). */
  OM.addFindingLayers = function (rules) {
    if (!cfg.can_read_findings) return;
    var fs = OM.findingsGroup;
    if (!fs) {
      fs = OM.el("fieldset", { class: "group", "data-group": "checks" });
      fs.appendChild(OM.el("legend", null, OM.systemTitle("checks")));
      document.getElementById("layer-groups").insertBefore(fs, document.querySelector('[data-group="reference"]'));
      OM.findingsGroup = fs;
    }
    rules.forEach(function (rule) {
      var name = "findings:" + rule.code;
      var entry = {
        name: name,
        title: rule.code + " " + (cfg.lang === "en" ? rule.title_en : rule.title_zh),
        style: { stroke: "#dc2626", stroke_width: 2, fill: "#ef4444", fill_opacity: 0.3 },
        min_zoom: 0,
        count: null,
      };
      var item = { on: true, opacity: 1, minZoom: 0, entry: entry, rule: rule.code };
      item.create = function () {
        return L.geoJSON(null, {
          pane: "findingsPane",
          style: function (f) {
            var c = OM.statusColor(f.properties.status);
            return { color: c, weight: 2, fillColor: c, fillOpacity: 0.3, dashArray: f.properties.status === "exception" ? "4 4" : null };
          },
          pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { radius: 7 }); },
          onEachFeature: function (f, lyr) {
            lyr.bindTooltip(f.properties.rule + " " + (cfg.lang === "en" ? f.properties.title_en : f.properties.title_zh) + " · " + OM.statusTitle(f.properties.status));
          },
        });
      };
      OM.overlays[name] = item;
      layerRow(name, entry, item, fs);
      item.row.classList.add("rule-layer");
      OM.setOverlay(name, true);
      OM.loadFindingLayer(item);
    });
  };

  OM.loadFindingLayer = function (item) {
    if (!item.layer) return Promise.resolve();
    return OM.api(OM.url("findings", {}, { rule: item.rule, status: "new,confirmed,reopened,exception,fixed", limit: 5000 })).then(
      function (data) {
        item.layer.clearLayers();
        item.layer.addData(data.features.filter(function (f) { return f.geometry; }));
        var count = item.row.querySelector(".count") || item.row.querySelector(".layer-name").appendChild(OM.el("span", { class: "count" }));
        count.textContent = OM.number(data.total, 0);
        item.row.dataset.loaded = "1";
      },
      function (err) { OM.toast(err.message, "error"); }
    );
  };

  OM.refreshFindingLayers = function () {
    return Promise.all(
      Object.keys(OM.overlays)
        .filter(function (n) { return n.indexOf("findings:") === 0; })
        .map(function (n) { return OM.loadFindingLayer(OM.overlays[n]); })
    );
  };
})();
