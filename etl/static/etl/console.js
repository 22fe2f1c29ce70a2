// Operators' console: live job progress (polled, so it survives a reload), extent and problem maps.
// No online base map: county boundaries come from OneMap's own database (intranet-safe).
(function () {
  "use strict";

  function csrfToken() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setText(box, cls, value) {
    var el = box.querySelector("." + cls);
    if (el) el.textContent = value === null || value === undefined ? "—" : value;
  }

  var jobBox = document.querySelector(".job[data-job-url]");
  if (jobBox) {
    var url = jobBox.getAttribute("data-job-url");
    var poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          var p = job.progress || {};
          jobBox.querySelector(".fill").style.width = (p.percent || 0) + "%";
          setText(jobBox, "job-percent", p.percent || 0);
          setText(jobBox, "job-read", p.read || 0);
          setText(jobBox, "job-validated", p.validated || 0);
          setText(jobBox, "job-applied", p.applied || 0);
          setText(jobBox, "job-total", p.total);
          setText(jobBox, "job-elapsed", p.elapsed || 0);
          setText(jobBox, "job-eta", p.eta);
          setText(jobBox, "job-status", job.status_label);
          jobBox.setAttribute("data-status", job.status);
          if (job.status === "queued" || job.status === "running") {
            setTimeout(poll, 700);
            return;
          }
          jobBox.querySelector(".job-cancel").hidden = true;
          var result = jobBox.querySelector(".job-result");
          result.textContent = job.error ? job.error + " " : "";
          if (job.report) {
            var a = document.createElement("a");
            a.href = job.report;
            a.className = "job-report";
            a.textContent = document.documentElement.lang === "en" ? "Open the report" : "查看报告";
            result.appendChild(a);
          }
          // a finished dry run or re-run changed what this page shows (findings, resolved rows): reload
          // once; a finished load leaves its report link in place instead
          if (job.kind !== "load") setTimeout(function () { window.location.reload(); }, 1500);
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    poll();
    jobBox.querySelector(".job-cancel").addEventListener("click", function () {
      fetch(jobBox.getAttribute("data-cancel-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
    });
  }

  function countyLayer(map, counties) {
    var layer = L.geoJSON(counties, {
      style: function () { return { color: "#3b6ea5", weight: 1, fillColor: "#dfe9f5", fillOpacity: 0.4 }; },
      onEachFeature: function (f, lyr) { lyr.bindTooltip(f.properties.name, { sticky: true }); },
    }).addTo(map);
    map.attributionControl.setPrefix(false);
    return layer;
  }

  var extentMap = document.getElementById("extent-map");
  if (extentMap) {
    var data = JSON.parse(document.getElementById("map-data").textContent);
    var map = L.map(extentMap).setView([29.56, 106.55], 8);
    var counties = countyLayer(map, data.counties);
    var bounds = counties.getBounds();
    data.extents.forEach(function (e) {
      var b = e.bbox;
      var rect = L.rectangle([[b[1], b[0]], [b[3], b[2]]], { color: "#c0392b", weight: 2, fill: false })
        .bindTooltip(e.target).addTo(map);
      bounds = bounds.isValid() ? bounds.extend(rect.getBounds()) : rect.getBounds();
    });
    if (bounds.isValid()) map.fitBounds(bounds); else map.setView([29.56, 106.55], 8);
  }

  var problemMap = document.getElementById("problem-map");
  if (problemMap) {
    var pmap = L.map(problemMap).setView([29.56, 106.55], 8);
    var cl = countyLayer(pmap, JSON.parse(document.getElementById("counties-data").textContent));
    fetch(problemMap.getAttribute("data-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (fc) {
        var layer = L.geoJSON(fc, {
          style: function (f) {
            return { color: f.properties.resolved ? "#27ae60" : f.properties.severity === "error" ? "#c0392b" : "#e67e22", weight: 2 };
          },
          pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 4 }); },
          onEachFeature: function (f, lyr) {
            lyr.bindPopup("行 " + f.properties.row + " · " + f.properties.rule + "<br>" + f.properties.message);
          },
        }).addTo(pmap);
        problemMap.setAttribute("data-features", fc.features.length);
        var b = layer.getBounds();
        if (b.isValid()) pmap.fitBounds(b.pad(0.2)); else if (cl.getBounds().isValid()) pmap.fitBounds(cl.getBounds());
        else pmap.setView([29.56, 106.55], 8);
      });
  }
})();
