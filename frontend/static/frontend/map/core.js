/* OneMap web map: shared state and helpers (configuration from the page, texts, JSON requests, the
   highlighted geometry, messages). Every other module hangs off window.OneMap. No build step, no CDN. */
(function () {
  "use strict";
  function json(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  var cfg = json("map-config");
  var strings = json("map-strings") || {};
  var OM = (window.OneMap = { cfg: cfg, strings: strings });

  /** A translated text, with {name} placeholders filled. */
  OM.t = function (key, vars) {
    var s = strings[key] || key;
    if (vars) {
      Object.keys(vars).forEach(function (k) {
        s = s.split("{" + k + "}").join(String(vars[k]));
      });
    }
    return s;
  };

  /** A URL template of the configuration with {name} filled and a query string. */
  OM.url = function (name, vars, query) {
    var u = cfg.urls[name];
    Object.keys(vars || {}).forEach(function (k) {
      u = u.split("{" + k + "}").join(encodeURIComponent(vars[k]));
    });
    if (query) {
      var q = Object.keys(query)
        .filter(function (k) { return query[k] !== "" && query[k] !== null && query[k] !== undefined; })
        .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(query[k]); })
        .join("&");
      if (q) u += (u.indexOf("?") < 0 ? "?" : "&") + q;
    }
    return u;
  };

  /** JSON request with the session; rejects with {status, message} that the UI can show as is. */
  OM.api = function (url, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    if (options.body) {
      headers["Content-Type"] = "application/json";
      headers["X-CSRFToken"] = cfg.csrf;
    }
    return fetch(url, {
      method: options.method || "GET",
      credentials: "same-origin",
      headers: headers,
      body: options.body ? JSON.stringify(options.body) : undefined,
      signal: options.signal,
    }).then(
      function (resp) {
        return resp.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          if (resp.ok) return data;
          throw { status: resp.status, message: OM.errorMessage(resp.status, data), path: data && data.error && data.error.path };
        });
      },
      function (err) {
        if (err && err.name === "AbortError") throw err;
        throw { status: 0, message: OM.t("service_down") };
      }
    );
  };

  /** What to tell the user about a refused request: our APIs' bilingual errors, DRF's detail, or a default. */
  OM.errorMessage = function (status, data) {
    if (status === 403) return OM.t("forbidden");
    if (data && data.error) return cfg.lang === "en" ? data.error.message_en : data.error.message_zh;
    if (data && data.detail) return data.detail;
    return OM.t("service_down");
  };

  OM.el = function (tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  };

  var toastTimer = null;
  OM.toast = function (message, kind) {
    var box = document.getElementById("toast");
    box.textContent = message;
    box.className = "toast " + (kind || "info");
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, 4000);
  };

  OM.number = function (v, digits) {
    if (v === null || v === undefined || v === "") return "";
    var n = Number(v);
    if (!isFinite(n)) return String(v);
    return n.toLocaleString(cfg.lang === "en" ? "en-US" : "zh-CN", { maximumFractionDigits: digits === undefined ? 2 : digits });
  };

  /** Switch the side panel to a tab (layers, identify, findings, tools). */
  OM.showTab = function (name) {
    document.querySelectorAll(".side .tab").forEach(function (tab) {
      var on = tab.id === "tab-" + name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
    });
    document.querySelectorAll(".side .pane").forEach(function (pane) {
      pane.hidden = pane.id !== "pane-" + name;
    });
    var side = document.getElementById("side");
    if (side.classList.contains("collapsed")) OM.toggleSide(true);
  };

  OM.toggleSide = function (open) {
    var side = document.getElementById("side");
    var show = open === undefined ? side.classList.contains("collapsed") : open;
    side.classList.toggle("collapsed", !show);
    document.getElementById("side-toggle").setAttribute("aria-expanded", show ? "true" : "false");
    if (OM.map) setTimeout(function () { OM.map.invalidateSize(); }, 50);
  };

  /** The selected record's geometry, drawn above everything; zoom to it when asked. */
  OM.highlight = function (geojson, options) {
    options = options || {};
    if (OM.highlightLayer) OM.map.removeLayer(OM.highlightLayer);
    OM.highlightLayer = null;
    if (!geojson) return;
    OM.highlightLayer = L.geoJSON(geojson, {
      pane: "highlight",
      interactive: false,
      style: { color: "#facc15", weight: 4, opacity: 1, fillColor: "#fde047", fillOpacity: 0.25 },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, { radius: 9, pane: "highlight" });
      },
    }).addTo(OM.map);
    OM.highlightLayer.getLayers().forEach(function (l) {
      if (l.getElement && l.getElement()) l.getElement().classList.add("om-highlight");
    });
    if (options.zoom) {
      var b = OM.highlightLayer.getBounds();
      if (b.isValid()) OM.map.fitBounds(b, { maxZoom: options.maxZoom || 18, padding: [40, 40] });
    }
  };

  /** Fetch one feature of a layer (GeoJSON, EPSG:4490 = lon/lat) */
  OM.feature = function (layer, id) {
    return OM.api(OM.url("feature", { layer: layer, id: id }));
  };

  OM.systemTitle = function (key) {
    return cfg.systems[key] || key;
  };
})();
