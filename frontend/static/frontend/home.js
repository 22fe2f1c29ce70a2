// Overview map: county boundaries from OneMap's own database, no online base map (intranet-safe).
(function () {
  "use strict";
  var counties = JSON.parse(document.getElementById("counties-data").textContent);
  var map = L.map("map", { zoomControl: true, attributionControl: true });
  var layer = L.geoJSON(counties, {
    style: function () {
      return { color: "#3b6ea5", weight: 1.2, fillColor: "#dfe9f5", fillOpacity: 0.55 };
    },
    onEachFeature: function (feature, lyr) {
      lyr.bindTooltip(feature.properties.name + " " + feature.properties.code, { sticky: true });
    },
  }).addTo(map);
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution("区县边界 © 天地图");
  if (counties.features.length) {
    map.fitBounds(layer.getBounds());
  } else {
    map.setView([29.56, 106.55], 9);
  }
})();
