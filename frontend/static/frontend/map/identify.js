/* Identify: a click on the map asks /api/identify/ what every system holds there, and lists it per system
   with TD/T 1066 field names, code values decoded through the code lists, and lineage (file, row, load). */
(function () {
  "use strict";
  var OM = window.OneMap;
  var cfg = OM.cfg;
  var SYSTEM_ORDER = ["registration", "planning", "landsupply", "checks", "reference"];
  var pending = null;

  function displayValue(attr, value, labels) {
    if (value === null || value === undefined || value === "") return "";
    if (labels && labels[attr.name]) return value + " " + labels[attr.name];
    if (attr.type === "number") return OM.number(value, 2);
    return String(value);
  }

  function recordTitle(record, entry) {
    var p = record.properties || {};
    if (record.layer === "findings" && p.rule) return p.rule + " " + (p.rule_title || "");
    var key = entry && entry.attributes.length ? p[entry.attributes[0].name] : record.id;
    return (entry ? entry.title : record.layer) + " · " + (key === null || key === undefined ? "#" + record.id : key);
  }

  function attributeTable(entry, props, labels) {
    var table = OM.el("table", { class: "attrs" });
    var attrs = entry ? entry.attributes : Object.keys(props).map(function (k) { return { name: k, title: k, type: "string" }; });
    attrs.forEach(function (attr) {
      var v = displayValue(attr, props[attr.name], labels);
      if (v === "") return;
      var tr = OM.el("tr", { "data-field": attr.name });
      tr.appendChild(OM.el("th", { scope: "row" }, attr.title));
      tr.appendChild(OM.el("td", null, v));
      table.appendChild(tr);
    });
    return table;
  }

  function lineageBlock(lineage) {
    var d = OM.el("details", { class: "lineage" });
    d.appendChild(OM.el("summary", null, OM.t("lineage")));
    var dl = OM.el("dl");
    [["src_file", lineage.src_file + (lineage.src_layer ? " · " + lineage.src_layer : "")], ["src_row", lineage.src_row], ["load_run", lineage.load_run ? "#" + lineage.load_run : ""], ["loaded_at", lineage.loaded_at ? new Date(lineage.loaded_at).toLocaleString(cfg.lang === "en" ? "en-GB" : "zh-CN") : ""], ["version", lineage.version]].forEach(function (pair) {
      if (pair[1] === null || pair[1] === undefined || pair[1] === "") return;
      dl.appendChild(OM.el("dt", null, OM.t(pair[0])));
      dl.appendChild(OM.el("dd", { "data-lineage": pair[0] }, String(pair[1])));
    });
    d.appendChild(dl);
    return d;
  }

  function select(article, record, zoom) {
    document.querySelectorAll("#identify .record.selected").forEach(function (a) { a.classList.remove("selected"); });
    article.classList.add("selected");
    return OM.feature(record.layer, record.id).then(
      function (feature) { OM.highlight(feature, { zoom: zoom }); },
      function (err) { OM.toast(err.message, "error"); }
    );
  }

  /** One record as a card: title (selects and highlights), attributes, lineage, actions. */
  OM.recordCard = function (record) {
    var entry = cfg.layers[record.layer];
    var props = record.properties || {};
    var article = OM.el("article", { class: "record", "data-layer": record.layer, "data-id": String(record.id) });
    var head = OM.el("header");
    var title = OM.el("button", { type: "button", class: "record-title" }, recordTitle(record, entry));
    title.addEventListener("click", function () { select(article, record, false); });
    head.appendChild(title);
    var zoom = OM.el("button", { type: "button", class: "record-zoom", title: OM.t("show_on_map"), "aria-label": OM.t("show_on_map") }, OM.t("zoom_to"));
    zoom.addEventListener("click", function () { select(article, record, true); });
    head.appendChild(zoom);
    article.appendChild(head);
    article.appendChild(attributeTable(entry, props, record.labels));
    if (record.layer === "findings" && props.fingerprint) {
      var open = OM.el("button", { type: "button", class: "open-finding" }, OM.t("open_finding"));
      open.addEventListener("click", function () { OM.openFinding(props.fingerprint); });
      article.appendChild(open);
    }
    if (record.lineage) article.appendChild(lineageBlock(record.lineage));
    article._select = function (zoomTo) { return select(article, record, zoomTo); };
    return article;
  };

  function render(data, latlng) {
    var box = document.getElementById("identify");
    box.innerHTML = "";
    var head = OM.el("p", { class: "identify-head" });
    head.textContent = OM.t("records_at", { n: data.count }) + " · " + latlng.lng.toFixed(6) + ", " + latlng.lat.toFixed(6);
    box.appendChild(head);
    if (!data.count) {
      box.appendChild(OM.el("p", { class: "empty" }, OM.t("nothing_here")));
      OM.highlight(null);
      return;
    }
    var keys = Object.keys(data.systems).sort(function (a, b) {
      var ia = SYSTEM_ORDER.indexOf(a), ib = SYSTEM_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
    });
    var first = null;
    keys.forEach(function (system) {
      var section = OM.el("section", { class: "system", "data-system": system });
      section.appendChild(OM.el("h3", null, OM.systemTitle(system) + " (" + data.systems[system].length + ")"));
      data.systems[system].forEach(function (record) {
        var card = OM.recordCard(record);
        if (!first && record.layer !== "counties") first = card;
        section.appendChild(card);
      });
      box.appendChild(section);
    });
    if (first) first._select(false);
  }

  OM.identifyAt = function (latlng) {
    OM.showTab("identify");
    var box = document.getElementById("identify");
    box.innerHTML = "";
    box.appendChild(OM.el("p", { class: "loading" }, OM.t("loading")));
    if (OM.clickMarker) OM.map.removeLayer(OM.clickMarker);
    OM.clickMarker = L.circleMarker(latlng, { radius: 5, color: "#0f172a", weight: 2, fillColor: "#fff", fillOpacity: 1, pane: "highlight", interactive: false }).addTo(OM.map);
    if (pending) pending.abort();
    pending = new AbortController();
    return OM.api(OM.url("identify", {}, { lon: latlng.lng.toFixed(8), lat: latlng.lat.toFixed(8) }), { signal: pending.signal }).then(
      function (data) {
        render(data, latlng);
        box.dataset.done = String(Date.now());
      },
      function (err) {
        if (err && err.name === "AbortError") return;
        box.innerHTML = "";
        box.appendChild(OM.el("p", { class: "error" }, err.message));
      }
    );
  };

  /** A single record found by search, shown in the identify panel. */
  OM.showRecord = function (layer, feature) {
    OM.showTab("identify");
    var box = document.getElementById("identify");
    box.innerHTML = "";
    var props = Object.assign({}, feature.properties);
    var lineage = {};
    ["src_system", "src_file", "src_layer", "src_row", "load_run", "loaded_at", "version"].forEach(function (k) {
      if (k in props) { lineage[k] = props[k]; delete props[k]; }
    });
    var record = { layer: layer, id: feature.id, properties: props, lineage: Object.keys(lineage).length ? lineage : null, labels: feature.labels };
    var group = (cfg.groups.filter(function (g) { return g.layers.indexOf(layer) >= 0; })[0] || {}).key;
    var system = lineage.src_system || group || "";
    var section = OM.el("section", { class: "system", "data-system": system });
    section.appendChild(OM.el("h3", null, OM.systemTitle(system)));
    var card = OM.recordCard(record);
    card.classList.add("selected");
    section.appendChild(card);
    box.appendChild(section);
    box.dataset.done = String(Date.now());
    // the feature API carries no code names nor lineage: identify at a point of the feature has both
    var bounds = L.geoJSON(feature).getBounds();
    if (!bounds.isValid()) return;
    var c = bounds.getCenter();
    OM.api(OM.url("identify", {}, { lon: c.lng.toFixed(8), lat: c.lat.toFixed(8) })).then(function (data) {
      var list = [];
      Object.keys(data.systems || {}).forEach(function (k) { list = list.concat(data.systems[k]); });
      var full = list.filter(function (r) { return r.layer === layer && String(r.id) === String(feature.id); })[0];
      if (!full || !card.isConnected) return;
      var better = OM.recordCard(full);
      better.classList.add("selected");
      card.replaceWith(better);
    }, function () {});
  };
})();
