/* Start the web map: panes in drawing order, base maps, the layer switcher, identify on click, search,
   findings review and tools. */
(function () {
  "use strict";
  var OM = window.OneMap;
  var counties = JSON.parse(document.getElementById("counties-data").textContent);
  var map = (OM.map = L.map("map", { zoomControl: false, attributionControl: true, minZoom: 5, maxZoom: 20, keyboard: true }));
  [["basePane", 150], ["overlayTiles", 350], ["compareLeft", 360], ["compareRight", 361], ["findingsPane", 450], ["highlight", 620]].forEach(function (p) {
    map.createPane(p[0]).style.zIndex = String(p[1]);
  });
  map.getPane("highlight").style.pointerEvents = "none";
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution("区县边界 © 天地图 · OneMap");
  L.control.zoom({ position: "topright" }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  var base = OM.buildBases(counties);
  var ext = OM.cfg.extent;
  if (ext) map.fitBounds([[ext[1], ext[0]], [ext[3], ext[2]]], { maxZoom: 15 });
  else if (counties.features.length) map.fitBounds(base.getBounds());
  else map.setView([29.56, 106.55], 9);

  OM.buildSwitcher();
  OM.initSearch();
  OM.initTools();
  OM.initFindings(counties).then(function (rules) { OM.addFindingLayers(rules || []); });

  if (OM.initAnalysis) OM.initAnalysis(counties);

  map.on("click", function (ev) {
    if (OM.measuring() || OM.drawing) return;
    OM.identifyAt(ev.latlng);
  });

  // tabs: click, and arrow keys between tabs (WAI-ARIA tabs pattern)
  var tabs = Array.prototype.slice.call(document.querySelectorAll(".side .tab"));
  tabs.forEach(function (tab, i) {
    tab.tabIndex = i === 0 ? 0 : -1;
    tab.addEventListener("click", function () {
      OM.showTab(tab.id.replace("tab-", ""));
    });
    tab.addEventListener("keydown", function (ev) {
      var d = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
      if (!d) return;
      var next = tabs[(i + d + tabs.length) % tabs.length];
      next.focus();
      OM.showTab(next.id.replace("tab-", ""));
    });
  });
  document.getElementById("side-toggle").addEventListener("click", function () { OM.toggleSide(); });
  if (window.matchMedia && window.matchMedia("(max-width: 760px)").matches) OM.toggleSide(false);
  document.getElementById("onemap").dataset.ready = "1";
})();
