/* The analysts' workbench on the map page: build a query with form controls (target layer, attribute
   conditions, spatial conditions against another layer, a county or a drawn area, buffer, grouping),
   run it through /api/queries/run/ (the same JSON model as the API), see the features on the map and in a
   paged table, groups as a table and a bar chart, export (CSV/XLSX/GPKG/GeoJSON in 4490 or a GK zone),
   and keep queries (own, shared, the ready-made examples). */
(function () {
  "use strict";
  var OM = window.OneMap;
  var cfg = OM.cfg;
  if (!cfg.can_query) return;
  var PAGE = 100;
  var A = (OM.analysis = { last: null, offset: 0, layer: null, chart: null });
  var LAYERS = ["parcels", "buildings", "permits", "landsupply"].filter(function (n) { return cfg.layers[n]; });
  var OPS = ["eq", "ne", "in", "range", "contains", "null", "notnull"];
  var PREDICATES = ["intersects", "within", "contains", "dwithin", "disjoint"];

  function $(id) { return document.getElementById(id); }
  function option(value, text) { return OM.el("option", { value: value }, text); }

  /** fields of a layer the query model accepts: its attributes plus area and county */
  function fields(layer) {
    var entry = cfg.layers[layer];
    var out = entry.attributes.map(function (a) { return { name: a.name, title: a.title, type: a.type, codelist: a.codelist }; });
    out.push({ name: "area_m2", title: OM.t("area_m2"), type: "number" });
    out.push({ name: "county", title: OM.t("county_of"), type: "string", codelist: "gbt2260_chongqing" });
    return out;
  }

  // ---- attribute conditions
  function filterRow(container, layer, preset) {
    var row = OM.el("div", { class: "qrow filter" });
    var field = OM.el("select", { class: "f-field", "aria-label": OM.t("rule") });
    fields(layer).forEach(function (f) { field.appendChild(option(f.name, f.title)); });
    var op = OM.el("select", { class: "f-op" });
    OPS.forEach(function (o) { op.appendChild(option(o, OM.t("op_" + o))); });
    var v1 = OM.el("input", { class: "f-value", "aria-label": OM.t("value"), placeholder: OM.t("value") });
    var v2 = OM.el("input", { class: "f-value2", "aria-label": OM.t("max"), placeholder: OM.t("max") });
    var del = OM.el("button", { type: "button", class: "remove", "aria-label": OM.t("remove") }, "✕");
    del.addEventListener("click", function () { row.remove(); });
    function sync() {
      var f = fields(layer).filter(function (x) { return x.name === field.value; })[0] || {};
      // dates as text: the model takes ISO dates and relative ones such as today-1y
      var t = f.type === "number" || f.type === "integer" ? "number" : "text";
      var date = f.type === "date" || f.type === "datetime";
      v1.type = op.value === "in" ? "text" : t;
      v2.type = t;
      v1.placeholder = (op.value === "range" ? OM.t("min") : OM.t("value")) + (date ? " 2016-03-01 / today-1y" : "");
      v2.placeholder = OM.t("max") + (date ? " 2016-03-01 / today-1y" : "");
      v1.hidden = op.value === "null" || op.value === "notnull";
      v2.hidden = op.value !== "range";
    }
    field.addEventListener("change", sync);
    op.addEventListener("change", sync);
    [field, op, v1, v2, del].forEach(function (e) { row.appendChild(e); });
    container.appendChild(row);
    if (preset) {
      field.value = preset.field;
      op.value = preset.op;
      if (preset.op === "range") { v1.value = preset.value[0] || ""; v2.value = preset.value[1] || ""; }
      else if (preset.op === "in") v1.value = (preset.value || []).join(",");
      else if (preset.value !== undefined && preset.value !== null) v1.value = preset.value;
    }
    sync();
  }

  function readFilters(container) {
    return Array.prototype.map.call(container.querySelectorAll(".qrow.filter"), function (row) {
      var f = { field: row.querySelector(".f-field").value, op: row.querySelector(".f-op").value };
      var v1 = row.querySelector(".f-value"), v2 = row.querySelector(".f-value2");
      var num = v1.type === "number";
      function val(input) { return input.value === "" ? null : num ? Number(input.value) : input.value; }
      if (f.op === "range") f.value = [val(v1), val(v2)];
      else if (f.op === "in") f.value = v1.value.split(/[,，]/).map(function (s) { return s.trim(); }).filter(Boolean);
      else if (f.op !== "null" && f.op !== "notnull") f.value = val(v1);
      return f;
    });
  }

  // ---- spatial conditions
  function spatialRow(preset) {
    var row = OM.el("div", { class: "qrow spatial" });
    var pred = OM.el("select", { class: "s-pred" });
    PREDICATES.forEach(function (p) { pred.appendChild(option(p, OM.t("pred_" + p))); });
    var dist = OM.el("input", { class: "s-distance", type: "number", min: "0", step: "1", placeholder: "m", "aria-label": OM.t("pred_dwithin") });
    var kind = OM.el("select", { class: "s-kind" });
    kind.appendChild(option("layer", OM.t("target_layer")));
    kind.appendChild(option("county", OM.t("target_county")));
    kind.appendChild(option("geometry", OM.t("target_drawn")));
    var layer = OM.el("select", { class: "s-layer" });
    LAYERS.forEach(function (n) { layer.appendChild(option(n, cfg.layers[n].title)); });
    var county = OM.el("select", { class: "s-county" });
    (OM.countyList || []).forEach(function (c) { county.appendChild(option(c[0], c[1])); });
    var draw = OM.el("button", { type: "button", class: "s-draw" }, OM.t("draw_area"));
    var drawn = OM.el("span", { class: "s-drawn hint" });
    draw.addEventListener("click", function () {
      OM.drawPolygon(function (geom, shape) {
        forgetShape(row);
        row._shape = shape; // the drawn area stays on the map while its condition exists
        row._geometry = geom;
        drawn.textContent = OM.t("drawn_ok", { n: geom.coordinates[0].length - 1 });
      });
    });
    var del = OM.el("button", { type: "button", class: "remove", "aria-label": OM.t("remove") }, "✕");
    del.addEventListener("click", function () { forgetShape(row); row.remove(); });
    function sync() {
      if (kind.value !== "geometry") forgetShape(row);
      dist.hidden = pred.value !== "dwithin";
      layer.hidden = kind.value !== "layer";
      county.hidden = kind.value !== "county";
      draw.hidden = drawn.hidden = kind.value !== "geometry";
    }
    pred.addEventListener("change", sync);
    kind.addEventListener("change", sync);
    [pred, dist, kind, layer, county, draw, drawn, del].forEach(function (e) { row.appendChild(e); });
    $("q-spatial").appendChild(row);
    if (preset) {
      pred.value = preset.predicate;
      if (preset.distance !== undefined) dist.value = preset.distance;
      if (preset.layer) { kind.value = "layer"; layer.value = preset.layer; row._filters = preset.filters; row._compare = preset.compare; }
      else if (preset.county) { kind.value = "county"; county.value = preset.county; }
      else if (preset.geometry) { kind.value = "geometry"; row._geometry = preset.geometry; drawn.textContent = OM.t("drawn_ok", { n: preset.geometry.coordinates[0].length - 1 }); }
    }
    sync();
  }

  /** take a spatial condition's drawn area off the map (the condition is removed, redrawn or retargeted) */
  function forgetShape(row) {
    if (row._shape) { OM.map.removeLayer(row._shape); row._shape = null; }
  }

  function readSpatial() {
    return Array.prototype.map.call($("q-spatial").querySelectorAll(".qrow.spatial"), function (row) {
      var s = { predicate: row.querySelector(".s-pred").value };
      if (s.predicate === "dwithin") s.distance = Number(row.querySelector(".s-distance").value || 0);
      var kind = row.querySelector(".s-kind").value;
      if (kind === "layer") {
        s.layer = row.querySelector(".s-layer").value;
        if (row._filters) s.filters = row._filters;
        if (row._compare) s.compare = row._compare;
      } else if (kind === "county") s.county = row.querySelector(".s-county").value;
      else s.geometry = row._geometry || null;
      return s;
    });
  }

  // ---- grouping
  function groupOptions(layer) {
    var box = $("q-groups");
    box.innerHTML = "";
    var opts = [{ key: "county", title: OM.t("county_of") }];
    cfg.layers[layer].attributes.forEach(function (a) {
      if (a.codelist && a.codelist.indexOf("gbt21010") === 0) opts.push({ key: "class1:" + a.name, title: OM.t("group_class1", { field: a.title }) });
      if (a.type === "date") opts.push({ key: "year:" + a.name, title: OM.t("group_year", { field: a.title }) });
      if (a.codelist && a.codelist.indexOf("gbt21010") !== 0 && a.name !== "qxdm" && a.name !== "county") opts.push({ key: a.name, title: a.title });
    });
    opts.forEach(function (o) {
      var l = OM.el("label", { class: "check" });
      var c = OM.el("input", { type: "checkbox", value: o.key, name: "group" });
      l.appendChild(c);
      l.appendChild(document.createTextNode(" " + o.title));
      box.appendChild(l);
    });
    var aggs = $("q-aggs");
    if (!aggs.childNodes.length) {
      [["count", "agg_count", true], ["sum:area_m2", "agg_sum_area", true], ["avg:area_m2", "agg_avg_area", false]].forEach(function (a) {
        var l = OM.el("label", { class: "check" });
        var c = OM.el("input", { type: "checkbox", value: a[0], name: "agg" });
        c.checked = a[2];
        l.appendChild(c);
        l.appendChild(document.createTextNode(" " + OM.t(a[1])));
        aggs.appendChild(l);
      });
    }
  }

  function setLayer(layer) {
    A.layer = layer;
    $("q-layer").value = layer;
    $("q-filters").innerHTML = "";
    groupOptions(layer);
  }

  /** the query model from the form */
  A.read = function () {
    var form = $("query-form");
    var q = { layer: $("q-layer").value, filters: readFilters($("q-filters")), spatial: readSpatial() };
    var buffer = Number(form.buffer.value || 0);
    if (buffer > 0) q.buffer = buffer;
    var groups = Array.prototype.filter.call(form.querySelectorAll("input[name=group]"), function (c) { return c.checked; }).map(function (c) { return c.value; });
    if (groups.length) {
      q.group_by = groups;
      q.aggregates = Array.prototype.filter.call(form.querySelectorAll("input[name=agg]"), function (c) { return c.checked; }).map(function (c) {
        var p = c.value.split(":");
        return p.length > 1 ? { fn: p[0], field: p[1] } : { fn: p[0] };
      });
      if (!q.aggregates.length) q.aggregates = [{ fn: "count" }];
    }
    return q;
  };

  /** fill the form from a query model (a saved query) */
  A.load = function (q) {
    setLayer(q.layer);
    (q.filters || []).forEach(function (f) { filterRow($("q-filters"), q.layer, f); });
    $("q-spatial").querySelectorAll(".qrow.spatial").forEach(forgetShape);
    $("q-spatial").innerHTML = "";
    (q.spatial || []).forEach(function (s) { spatialRow(s); });
    $("query-form").buffer.value = q.buffer || 0;
    var groups = q.group_by || [];
    $("query-form").querySelectorAll("input[name=group]").forEach(function (c) { c.checked = groups.indexOf(c.value) >= 0; });
    var aggs = (q.aggregates || [{ fn: "count" }]).map(function (a) { return a.field ? a.fn + ":" + a.field : a.fn; });
    $("query-form").querySelectorAll("input[name=agg]").forEach(function (c) { c.checked = aggs.indexOf(c.value) >= 0; });
  };

  // ---- running and showing results
  function showError(err) {
    var box = $("query-error");
    box.hidden = false;
    box.textContent = (err.path ? err.path + ": " : "") + err.message;
  }

  A.run = function (query, offset) {
    $("query-error").hidden = true;
    var body = Object.assign({}, query, { offset: offset || 0, limit: PAGE });
    A.last = query;
    A.offset = offset || 0;
    var results = $("results");
    results.hidden = false;
    results.dataset.state = "running";
    $("results-summary").textContent = OM.t("running");
    return OM.api(cfg.urls.query_run, { method: "POST", body: body }).then(
      function (data) {
        render(data);
        results.dataset.state = "done";
        results.dataset.kind = data.kind;
        setTimeout(function () { OM.map.invalidateSize(); }, 50);
      },
      function (err) {
        results.dataset.state = "error";
        $("results-summary").textContent = err.message;
        showError({ path: err.path, message: err.message });
      }
    );
  };

  function columnTitle(c) { return cfg.lang === "en" ? c.title_en || c.name : c.title_zh || c.name; }

  function cell(v, type, name) {
    if (v === null || v === undefined) return "";
    if (name && /^year/.test(name)) return String(v);
    if (type === "number" || typeof v === "number") return OM.number(v, 2);
    return String(v);
  }

  function render(data) {
    var table = $("results-table");
    table.innerHTML = "";
    $("results-title").textContent = cfg.layers[A.last.layer] ? cfg.layers[A.last.layer].title : A.last.layer;
    if (A.mapLayer) { OM.map.removeLayer(A.mapLayer); A.mapLayer = null; }
    if (A.chart) { A.chart.destroy(); A.chart = null; }
    $("chart-box").hidden = true;
    if (data.kind === "groups") {
      $("results-summary").textContent = OM.t("result_groups", { n: data.total_groups, ms: Math.round(data.sql_ms) });
      groupTable(table, data);
      groupChart(data);
      return;
    }
    var feats = data.features.features || [];
    $("results-summary").textContent = data.total
      ? OM.t("result_features", { n: OM.number(data.total, 0), a: data.offset + 1, b: data.offset + feats.length, ms: Math.round(data.sql_ms) })
      : OM.t("no_results");
    if (!feats.length) return;
    A.mapLayer = L.geoJSON(data.features, {
      pane: "findingsPane",
      style: { color: "#0891b2", weight: 2, fillColor: "#22d3ee", fillOpacity: 0.35 },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 6 }); },
    }).addTo(OM.map);
    var cols = data.columns.filter(function (c) { return c.name !== "id"; });
    var t = OM.el("table", { class: "grid" });
    var head = OM.el("tr");
    cols.forEach(function (c) { head.appendChild(OM.el("th", { scope: "col" }, columnTitle(c))); });
    t.appendChild(OM.el("thead")).appendChild(head);
    var body = t.appendChild(OM.el("tbody"));
    feats.forEach(function (f) {
      var tr = OM.el("tr", { tabindex: "0", "data-id": String(f.id === undefined ? f.properties.id : f.id) });
      cols.forEach(function (c) { tr.appendChild(OM.el("td", null, cell(f.properties[c.name], c.type))); });
      var open = function () {
        OM.highlight(f, { zoom: true });
        OM.feature(A.last.layer, f.id === undefined ? f.properties.id : f.id).then(function (feature) { OM.showRecord(A.last.layer, feature); });
        body.querySelectorAll("tr.selected").forEach(function (r) { r.classList.remove("selected"); });
        tr.classList.add("selected");
      };
      tr.addEventListener("click", open);
      tr.addEventListener("keydown", function (ev) { if (ev.key === "Enter") open(); });
      body.appendChild(tr);
    });
    table.appendChild(t);
    var pager = OM.el("div", { class: "row pager" });
    if (data.offset > 0) {
      var prev = OM.el("button", { type: "button" }, OM.t("prev"));
      prev.addEventListener("click", function () { A.run(A.last, Math.max(0, data.offset - PAGE)); });
      pager.appendChild(prev);
    }
    if (data.offset + feats.length < data.total) {
      var next = OM.el("button", { type: "button" }, OM.t("next"));
      next.addEventListener("click", function () { A.run(A.last, data.offset + PAGE); });
      pager.appendChild(next);
    }
    table.appendChild(pager);
    var b = A.mapLayer.getBounds();
    if (b.isValid()) OM.map.fitBounds(b, { maxZoom: 17, padding: [30, 30] });
  }

  function groupTable(box, data) {
    var t = OM.el("table", { class: "grid groups" });
    var head = OM.el("tr");
    data.columns.forEach(function (c) { head.appendChild(OM.el("th", { scope: "col" }, columnTitle(c))); });
    t.appendChild(OM.el("thead")).appendChild(head);
    var body = t.appendChild(OM.el("tbody"));
    data.rows.forEach(function (r) {
      var tr = OM.el("tr");
      r.forEach(function (v, i) { tr.appendChild(OM.el("td", null, cell(v, data.columns[i].type, data.columns[i].name))); });
      body.appendChild(tr);
    });
    box.appendChild(t);
  }

  /** a bar chart of the first aggregate by the group label; two groupings become stacked series */
  function groupChart(data) {
    if (!window.Chart || !data.rows.length) return;
    var cols = data.columns;
    var isAgg = function (c) { return c.name === "count" || /^(sum|avg)_/.test(c.name); };
    var aggIdx = cols.findIndex(isAgg);
    if (aggIdx < 0) return;
    var keyIdx = cols.map(function (c, i) { return i; }).filter(function (i) { return !isAgg(cols[i]) && !/_label$/.test(cols[i].name); });
    var labelOf = function (row, i) {
      var li = cols.findIndex(function (c) { return c.name === cols[i].name + "_label"; });
      return li >= 0 && row[li] ? row[li] : row[i] === null ? "—" : String(row[i]);
    };
    // the key with more distinct values goes along the axis, the other one becomes the stacked series
    var distinct = function (i) { return new Set(data.rows.map(function (r) { return r[i]; })).size; };
    if (keyIdx.length > 1 && distinct(keyIdx[1]) > distinct(keyIdx[0])) keyIdx = [keyIdx[1], keyIdx[0]];
    var labels = [], series = {}, second = keyIdx.length > 1 ? keyIdx[1] : null;
    data.rows.forEach(function (row) {
      var x = labelOf(row, keyIdx[0]);
      if (labels.indexOf(x) < 0) labels.push(x);
      var s = second === null ? columnTitle(cols[aggIdx]) : labelOf(row, second);
      (series[s] = series[s] || {})[x] = (series[s][x] || 0) + Number(row[aggIdx] || 0);
    });
    if (second !== null) labels.sort();
    var palette = ["#1f4e8c", "#f59e0b", "#10b981", "#ef4444", "#7c3aed", "#0891b2", "#84cc16", "#ec4899", "#64748b", "#b45309"];
    var datasets = Object.keys(series).map(function (s, i) {
      return { label: s, data: labels.map(function (x) { return series[s][x] || 0; }), backgroundColor: palette[i % palette.length] };
    });
    $("chart-box").hidden = false;
    A.chart = new window.Chart($("results-chart"), {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        plugins: { legend: { display: datasets.length > 1 }, title: { display: true, text: columnTitle(cols[aggIdx]) } },
        scales: { x: { stacked: second !== null }, y: { stacked: second !== null, beginAtZero: true } },
      },
    });
    $("results-chart").dataset.bars = String(labels.length);
  }

  // ---- exports
  function exportQuery() {
    if (!A.last) return;
    var status = $("export-status");
    var body = { query: A.last, format: $("export-format").value, crs: Number($("export-crs").value) };
    status.textContent = OM.t("loading");
    fetch(cfg.urls.query_export, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cfg.csrf },
      body: JSON.stringify(body),
    }).then(function (resp) {
      if (resp.status === 202) {
        return resp.json().then(function (job) { status.textContent = OM.t("export_queued"); poll(job.status_url); });
      }
      if (!resp.ok) {
        return resp.json().then(
          function (d) { status.textContent = OM.errorMessage(resp.status, d); },
          function () { status.textContent = OM.t("export_failed"); }
        );
      }
      var name = (resp.headers.get("Content-Disposition") || "").replace(/^.*filename="?([^";]+)"?.*$/, "$1") || "onemap-export";
      return resp.blob().then(function (blob) {
        var a = OM.el("a", { href: URL.createObjectURL(blob), download: name, class: "download" }, name);
        status.textContent = OM.t("export_done");
        status.appendChild(a);
        a.click();
      });
    }, function () { status.textContent = OM.t("service_down"); });
  }

  function poll(url) {
    var status = $("export-status");
    OM.api(url).then(function (job) {
      if (job.status === "done") {
        status.textContent = OM.t("export_done");
        status.appendChild(OM.el("a", { href: job.download_url, class: "download" }, OM.t("download")));
      } else if (job.status === "failed") {
        status.textContent = OM.t("export_failed") + (job.error ? ": " + job.error : "");
      } else {
        status.textContent = OM.t("export_progress", { p: job.percent || 0 });
        setTimeout(function () { poll(url); }, 1000);
      }
    }, function (err) { status.textContent = err.message; });
  }

  // ---- saved queries
  function loadSaved(selectId) {
    return OM.api(cfg.urls.queries).then(function (data) {
      var sel = $("saved-select");
      sel.innerHTML = "";
      sel.appendChild(option("", "—"));
      var list = data.results || data;
      var groups = [[OM.t("examples"), list.filter(function (q) { return q.is_example; })], [OM.t("mine"), list.filter(function (q) { return !q.is_example; })]];
      A.saved = {};
      groups.forEach(function (g) {
        if (!g[1].length) return;
        var og = OM.el("optgroup", { label: g[0] });
        g[1].forEach(function (q) { A.saved[q.id] = q; og.appendChild(option(String(q.id), q.name)); });
        sel.appendChild(og);
      });
      if (selectId) sel.value = String(selectId);
    }, function (err) { OM.toast(err.message, "error"); });
  }

  function saveQuery() {
    var name = $("save-name").value.trim();
    if (!name) { OM.toast(OM.t("name_required"), "error"); return; }
    OM.api(cfg.urls.queries, { method: "POST", body: { name: name, shared: $("save-shared").checked, query: A.read() } }).then(
      function (q) { OM.toast(OM.t("saved_query"), "success"); loadSaved(q.id); },
      function (err) { OM.toast(err.message, "error"); }
    );
  }

  // ---- drawing a polygon for a spatial condition
  OM.drawPolygon = function (done) {
    var pts = [], line = null;
    var map = OM.map;
    map.doubleClickZoom.disable();
    map.getContainer().classList.add("measuring");
    OM.drawing = true;
    function click(ev) { pts.push(ev.latlng); if (line) map.removeLayer(line); line = L.polygon(pts, { color: "#0891b2", pane: "highlight", interactive: false }).addTo(map); }
    function finish() {
      map.off("click", click);
      map.off("dblclick", finish);
      map.doubleClickZoom.enable();
      map.getContainer().classList.remove("measuring");
      setTimeout(function () { OM.drawing = false; }, 50);
      if (pts.length < 3) { if (line) map.removeLayer(line); return; }
      var ring = pts.map(function (p) { return [p.lng, p.lat]; });
      ring.push(ring[0]);
      done({ type: "Polygon", coordinates: [ring] }, line);
    }
    map.on("click", click);
    map.on("dblclick", finish);
  };

  OM.initAnalysis = function (counties) {
    OM.countyList = counties.features.map(function (f) { return [f.properties.code, f.properties.name]; });
    var layerSel = $("q-layer");
    LAYERS.forEach(function (n) { layerSel.appendChild(option(n, cfg.layers[n].title)); });
    layerSel.addEventListener("change", function () { setLayer(layerSel.value); });
    setLayer(LAYERS[0]);
    $("q-add-filter").addEventListener("click", function () { filterRow($("q-filters"), A.layer); });
    $("q-add-spatial").addEventListener("click", function () { spatialRow(); });
    // a saved query runs exactly as stored (order, relative dates, field comparisons) until the form is edited
    $("query-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      A.run(A.pristine ? Object.assign({}, A.pristine) : A.read(), 0);
    });
    var edited = function (ev) { if (ev.target.id !== "saved-select") A.pristine = null; };
    $("query-form").addEventListener("input", edited);
    $("query-form").addEventListener("change", edited);
    $("query-form").addEventListener("click", function (ev) { if (ev.target.closest(".remove, #q-add-filter, #q-add-spatial, .s-draw")) A.pristine = null; });
    $("saved-select").addEventListener("change", function () {
      var q = A.saved && A.saved[$("saved-select").value];
      if (q) { A.load(q.query); A.pristine = q.query; $("save-name").value = q.is_example ? "" : q.name; }
    });
    $("save-query").addEventListener("click", saveQuery);
    $("results-close").addEventListener("click", function () {
      $("results").hidden = true;
      if (A.mapLayer) OM.map.removeLayer(A.mapLayer);
      setTimeout(function () { OM.map.invalidateSize(); }, 50);
    });
    var crs = $("export-crs");
    [[4490, "CGCS2000 (EPSG:4490)"], [4523, "CGCS2000 GK 3° 35 (EPSG:4523)"], [4524, "CGCS2000 GK 3° 36 (EPSG:4524)"], [4525, "CGCS2000 GK 3° 37 (EPSG:4525)"]].forEach(function (c) {
      crs.appendChild(option(String(c[0]), c[1]));
    });
    $("export-go").addEventListener("click", exportQuery);
    loadSaved();
  };
})();
