// Maps drawn by Leaflet (vendor/leaflet) with clusters (vendor/leaflet.markercluster):
// offline by default, on the shipped Natural Earth countries (vendor/world-atlas), or on
// the operator's tile server (web.tiles).

/* global L, topojson */
import { t, countryName } from "./i18n.js";

let world = null;
const countries = async () => {
  world = world || fetch("/assets/vendor/world-atlas/countries-110m.json").then((r) => r.json())
    .then((topo) => topojson.feature(topo, topo.objects.countries));
  return world;
};

/** A map in `container`, on the operator's tiles if any, else on the shipped outline. */
export async function worldMap(container, tiles, { small = false } = {}) {
  const map = L.map(container, {
    worldCopyJump: true, minZoom: 1, maxZoom: 18,
    zoomControl: false, scrollWheelZoom: !small, attributionControl: true,
  });
  if (!small) L.control.zoom({ zoomInTitle: t("zoomIn"), zoomOutTitle: t("zoomOut") }).addTo(map);
  map.attributionControl.setPrefix(false);
  if (tiles) {
    L.tileLayer(tiles.url, { attribution: tiles.attribution, maxZoom: 18 }).addTo(map);
  } else {
    map.attributionControl.addAttribution("Natural Earth");
    L.geoJSON(await countries(), {
      interactive: false,
      style: { color: "#9aa98f", weight: 0.6, fillColor: "#dfe8d6", fillOpacity: 1 },
    }).addTo(map);
  }
  map.setView([15, 10], small ? 4 : 2);
  return map;
}

const dot = { radius: 6, color: "#7a1d16", weight: 1.5, fillColor: "#c0392b", fillOpacity: 0.9 };

/** A popup's content: the name, its country, and a link to the organisation's page. */
function popup({ title, country }, href) {
  const box = document.createElement("div");
  const strong = document.createElement("strong");
  strong.textContent = title;
  box.append(strong, document.createElement("br"));
  if (country) {
    const where = document.createElement("span");
    where.className = "popup-where";
    where.textContent = countryName(country);
    box.append(where, document.createElement("br"));
  }
  const link = document.createElement("a");
  link.href = href;
  link.textContent = t("open");
  link.className = "popup-link";
  box.append(link);
  return box;
}

/**
 * Clustered markers for `points` (`[lat, lon, address, name, country]`); `href(address)`
 * is an organisation's page. Popups are made when a marker is clicked, not for every
 * marker up front. Returns the layer and a way to show one address.
 */
export function clusters(map, points, href) {
  const layer = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50, removeOutsideVisibleBounds: true });
  const byAddress = new Map();
  const markers = new Array(points.length);
  for (let i = 0; i < points.length; i++) {
    const [lat, lon, address, name, country] = points[i];
    const m = L.circleMarker([lat, lon], dot);
    m.options.title = name;
    m.options.address = address;
    m.options.country = country;
    byAddress.set(address, m);
    markers[i] = m;
  }
  layer.on("click", (e) => {
    const m = e.layer;
    if (!m.getPopup()) m.bindPopup(popup(m.options, href(m.options.address)));
    m.openPopup();
  });
  layer.addLayers(markers);
  map.addLayer(layer);
  return {
    layer,
    show(address) {
      const m = byAddress.get(address);
      if (!m) return;
      if (!m.getPopup()) m.bindPopup(popup(m.options, href(m.options.address)));
      layer.zoomToShowLayer(m, () => m.openPopup());
    },
  };
}

/** Fits the map to the points, or the world when there are none. */
export function fit(map, points) {
  if (points.length) map.fitBounds(points.map(([lat, lon]) => [lat, lon]), { maxZoom: 8, padding: [20, 20] });
  else map.setView([15, 10], 2);
}

/** The map's view as `bbox=west,south,east,north`, clamped to the world. */
export function bbox(map) {
  const b = map.getBounds();
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const round = (v) => Math.round(v * 1e4) / 1e4;
  let west = b.getWest(), east = b.getEast();
  if (east - west >= 360) { west = -180; east = 180; }
  const wrap = (lon) => ((((lon + 180) % 360) + 360) % 360) - 180;
  return [wrap(west), clamp(b.getSouth(), -90, 90), wrap(east), clamp(b.getNorth(), -90, 90)].map(round).join(",");
}
