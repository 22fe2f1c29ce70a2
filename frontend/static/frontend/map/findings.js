/* Findings review: the list filtered by rule, county and status; a finding's detail with the compared
   values side by side and its audit trail; supervisors change its status with a comment (the transitions
   the server allows), and the map's finding layers update at once. Analysts read only. */
(function () {
  "use strict";
  var OM = window.OneMap;
  var cfg = OM.cfg;
  var PAGE = 50;
  var state = { offset: 0, rules: {}, counties: {} };
  function badge(status) {
    var b = OM.el("span", { class: "badge status-" + status, "data-status": status }, OM.statusTitle(status));
    b.style.background = OM.statusColor(status);
    return b;
  }

  function ruleTitle(code) {
    var r = state.rules[code];
    return r ? (cfg.lang === "en" ? r.title_en : r.title_zh) : "";
  }

  function filters() {
    var form = document.getElementById("findings-filter");
    return { rule: form.rule.value, county: form.county.value, status: form.status.value };
  }

  function keyText(p) {
    return []
      .concat(p.zddm || [], p.bdcdyh || [], p.permit_no || [], p.contract_no || [])
      .slice(0, 3)
      .join(" · ");
  }

  // the panel shows what was asked last: a list request answered after a finding was opened is dropped
  var latest = 0;

  OM.loadFindings = function (offset) {
    var mine = ++latest;
    state.offset = offset || 0;
    var box = document.getElementById("findings");
    box.innerHTML = "";
    box.appendChild(OM.el("p", { class: "loading" }, OM.t("loading")));
    var f = filters();
    return OM.api(OM.url("findings", {}, { rule: f.rule, county: f.county, status: f.status, limit: PAGE, offset: state.offset })).then(
      function (data) {
        if (mine !== latest) return;
        box.innerHTML = "";
        if (!data.features.length) {
          box.appendChild(OM.el("p", { class: "empty" }, OM.t("no_findings")));
          return;
        }
        box.appendChild(OM.el("p", { class: "pager-info" }, OM.t("page_of", { a: data.offset + 1, b: data.offset + data.features.length, n: data.total })));
        var ul = OM.el("ul", { class: "finding-list" });
        data.features.forEach(function (feat) {
          var p = feat.properties;
          var li = OM.el("li");
          var btn = OM.el("button", { type: "button", class: "finding-item", "data-id": feat.id, "data-rule": p.rule });
          var line1 = OM.el("span", { class: "line1" });
          line1.appendChild(OM.el("strong", null, p.rule));
          line1.appendChild(document.createTextNode(" " + ruleTitle(p.rule) + " "));
          line1.appendChild(badge(p.status));
          btn.appendChild(line1);
          btn.appendChild(OM.el("span", { class: "line2" }, (state.counties[p.county] || p.county || "") + " · " + keyText(p)));
          btn.addEventListener("click", function () { OM.openFinding(feat.id); });
          li.appendChild(btn);
          ul.appendChild(li);
        });
        box.appendChild(ul);
        var pager = OM.el("div", { class: "row pager" });
        if (data.offset > 0) {
          var prev = OM.el("button", { type: "button" }, OM.t("prev"));
          prev.addEventListener("click", function () { OM.loadFindings(Math.max(0, data.offset - PAGE)); });
          pager.appendChild(prev);
        }
        if (data.offset + data.features.length < data.total) {
          var next = OM.el("button", { type: "button" }, OM.t("next"));
          next.addEventListener("click", function () { OM.loadFindings(data.offset + PAGE); });
          pager.appendChild(next);
        }
        box.appendChild(pager);
      },
      function (err) {
        box.innerHTML = "";
        box.appendChild(OM.el("p", { class: "error" }, err.message));
      }
    );
  };

  function valuesTable(values) {
    var table = OM.el("table", { class: "attrs compared" });
    Object.keys(values || {}).forEach(function (k) {
      var v = values[k];
      var tr = OM.el("tr", { "data-value": k });
      tr.appendChild(OM.el("th", { scope: "row" }, k));
      tr.appendChild(OM.el("td", null, typeof v === "number" ? OM.number(v, 2) : typeof v === "object" && v !== null ? JSON.stringify(v) : v));
      table.appendChild(tr);
    });
    return table;
  }

  function statusForm(detail) {
    var p = detail.properties;
    var form = OM.el("form", { class: "status-form" });
    var label = OM.el("label", null, OM.t("reason"));
    var reason = OM.el("textarea", { name: "reason", rows: "2" });
    label.appendChild(reason);
    form.appendChild(label);
    var expiresLabel = null;
    if (p.transitions.indexOf("exception") >= 0) {
      expiresLabel = OM.el("label", null, OM.t("expires"));
      expiresLabel.appendChild(OM.el("input", { type: "date", name: "expires" }));
      form.appendChild(expiresLabel);
    }
    var row = OM.el("div", { class: "row" });
    p.transitions.forEach(function (to) {
      var b = OM.el("button", { type: "button", class: "to-" + to, "data-to": to }, OM.t("to_" + to));
      b.addEventListener("click", function () {
        var body = { status: to, reason: reason.value };
        if (to === "exception" && form.expires && form.expires.value) body.expires = form.expires.value + "T23:59:59";
        b.disabled = true;
        OM.api(OM.url("finding_status", { id: p.id }), { method: "POST", body: body }).then(
          function () {
            OM.toast(OM.t("saved"), "success");
            OM.refreshFindingLayers();
            OM.openFinding(p.id);
          },
          function (err) {
            b.disabled = false;
            var msg = form.querySelector(".error") || form.appendChild(OM.el("p", { class: "error" }));
            msg.textContent = err.message;
          }
        );
      });
      row.appendChild(b);
    });
    form.appendChild(row);
    return form;
  }

  OM.openFinding = function (id) {
    if (!cfg.can_read_findings) return Promise.resolve();
    var mine = ++latest;
    OM.showTab("findings");
    var box = document.getElementById("findings");
    box.innerHTML = "";
    box.appendChild(OM.el("p", { class: "loading" }, OM.t("loading")));
    return OM.api(OM.url("finding", { id: id })).then(
      function (detail) {
        if (mine !== latest) return;
        var p = detail.properties;
        box.innerHTML = "";
        var back = OM.el("button", { type: "button", class: "back" }, "← " + OM.t("back"));
        back.addEventListener("click", function () { OM.loadFindings(state.offset); });
        box.appendChild(back);
        var art = OM.el("article", { class: "finding-detail", "data-id": p.id, "data-status": p.status });
        var h = OM.el("h3");
        h.appendChild(OM.el("strong", null, p.rule + " "));
        h.appendChild(document.createTextNode(ruleTitle(p.rule) || (cfg.lang === "en" ? p.title_en : p.title_zh)));
        art.appendChild(h);
        var meta = OM.el("p", { class: "meta" });
        meta.appendChild(badge(p.status));
        meta.appendChild(document.createTextNode(" " + (state.counties[p.county] || p.county || "")));
        art.appendChild(meta);
        var rule = state.rules[p.rule];
        if (rule) art.appendChild(OM.el("p", { class: "hint" }, cfg.lang === "en" ? rule.explanation_en : rule.explanation_zh));
        art.appendChild(OM.el("h4", null, OM.t("involved")));
        var keys = OM.el("ul", { class: "keys" });
        (p.keys || []).forEach(function (k) {
          keys.appendChild(OM.el("li", null, OM.systemTitle(k.system) + " · " + k.target + " · " + k.key));
        });
        art.appendChild(keys);
        art.appendChild(OM.el("h4", null, OM.t("compared")));
        art.appendChild(valuesTable(p.values));
        if (p.exception_reason) art.appendChild(OM.el("p", { class: "hint" }, OM.statusTitle("exception") + " · " + p.exception_reason));
        if (cfg.can_review && p.transitions && p.transitions.length) art.appendChild(statusForm(detail));
        art.appendChild(OM.el("h4", null, OM.t("history")));
        var ev = OM.el("ol", { class: "events" });
        (p.events || []).forEach(function (e) {
          ev.appendChild(OM.el("li", null, new Date(e.at).toLocaleString(cfg.lang === "en" ? "en-GB" : "zh-CN") + " · " + (e.user || (e.run ? "#" + e.run : "")) + " · " + (e.from ? OM.statusTitle(e.from) + " → " : "") + OM.statusTitle(e.to) + (e.reason ? " · " + e.reason : "")));
        });
        art.appendChild(ev);
        box.appendChild(art);
        if (detail.geometry) OM.highlight(detail, { zoom: true, maxZoom: 18 });
      },
      function (err) {
        box.innerHTML = "";
        box.appendChild(OM.el("p", { class: "error" }, err.message));
      }
    );
  };

  OM.initFindings = function (counties) {
    if (!cfg.can_read_findings) return Promise.resolve([]);
    var form = document.getElementById("findings-filter");
    counties.features.forEach(function (f) {
      state.counties[f.properties.code] = f.properties.name;
      form.county.appendChild(OM.el("option", { value: f.properties.code }, f.properties.name));
    });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); OM.loadFindings(0); });
    return OM.api(OM.url("rules")).then(
      function (data) {
        data.rules.forEach(function (r) {
          state.rules[r.code] = r;
          form.rule.appendChild(OM.el("option", { value: r.code }, r.code + " " + (cfg.lang === "en" ? r.title_en : r.title_zh)));
        });
        if (!latest) OM.loadFindings(0); // unless a finding was opened meanwhile (a click, a link)
        return data.rules;
      },
      function (err) {
        OM.toast(err.message, "error");
        return [];
      }
    );
  };
})();
