// The collaboration explorer: the working group's question — South–South beside
// North–South and North–North, at each level, in each sector — answered from
// /api/v1/stats/collaborations (the same figures a researcher downloads), and drawn as a
// graph by Cytoscape.js (vendor/cytoscape), organisations placed where they are.

/* global cytoscape */
import { t, number, countryName, lang } from "./i18n.js";
import { $, el, api, go, href, vocabulary, facetLabel } from "./app.js";

const DIMENSIONS = ["direction", "level", "sector", "year", "network"];
const FILTERS = ["type", "status", "theme", "country", "region", "author", "year", "confirmed"];
const COLOURS = { "south-south": "#1b7837", "north-south": "#b35806", "north-north": "#2166ac", unknown: "#8c8c8c" };
// Organisations by their country's region (Okabe–Ito's colours, told apart by colour-blind readers).
const REGION_COLOURS = { africa: "#e69f00", mena: "#cc79a7", europe: "#0072b2", "north-america": "#56b4e9", "latin-america-caribbean": "#009e73", "asia-pacific": "#d55e00" };
const NO_REGION = "#4a4a6a";
const MOST = 10000;

let cytoscapeLoaded = null;
function loadCytoscape() {
  cytoscapeLoaded ||= new Promise((resolve, reject) => {
    const s = el("script", { src: "/assets/vendor/cytoscape/cytoscape.min.js" });
    s.onload = resolve; s.onerror = () => reject(new Error(t("graphFailed", { why: "cytoscape.min.js" })));
    document.head.append(s);
  });
  return cytoscapeLoaded;
}

const valueLabel = (v, dimension, value, label) => {
  if (label) return label;
  if (value === "unknown") return t("unknown");
  if (dimension === "direction" || dimension === "level") return t(value);
  if (dimension === "sector") return facetLabel(v, "activity", value);
  if (dimension === "network" && value.startsWith("did:")) return facetLabel(v, "author", value);
  return value;
};

function table(v, dimension, values, total) {
  const id = "stats-" + dimension;
  return el("section", { class: "dimension" },
    el("h2", { id: id + "-title" }, t("d_" + dimension)),
    el("table", { id, class: "stats", "aria-labelledby": id + "-title" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("d_" + dimension)), el("th", { scope: "col" }, t("count")))),
      el("tbody", {}, ...values.map(({ value, count, label }) => el("tr", { "data-value": value },
        el("th", { scope: "row" }, dimension === "direction" ? el("span", { class: "swatch", style: `background:${COLOURS[value]}` }) : "", valueLabel(v, dimension, value, label)),
        el("td", {}, el("span", { class: "bar", style: `width:${Math.max(2, (100 * count) / Math.max(total, 1))}%` }), el("span", { class: "n" }, number(count))))))));
}

export async function exploreView(query) {
  document.title = `${t("exploreTitle")} · Maillage`;
  const v = await vocabulary();
  const filters = new URLSearchParams([...query].filter(([k]) => FILTERS.includes(k)));
  const facetsQuery = new URLSearchParams(filters); facetsQuery.set("limit", "1");
  const [facets, stats] = await Promise.all([
    api("/api/v1/collaborations?" + facetsQuery),
    // Every dimension's counts come with any `by`; the page reads those, not the cross-table.
    api(`/api/v1/stats/collaborations?by=direction&items=${MOST}&${filters}`),
  ]);
  const north = stats.north;
  const selects = FILTERS.filter((f) => facets.facets[f]).map((facet) => {
    const id = "explore-" + facet;
    const current = filters.get(facet);
    const select = el("select", { id, name: facet, onchange: (e) => {
      const q = new URLSearchParams(filters); q.delete(facet); if (e.target.value) q.set(facet, e.target.value); go("#/explore?" + q);
    } }, el("option", { value: "" }, t("any")));
    for (const { value, count, label } of facets.facets[facet]) select.append(el("option", { value, selected: value === current }, `${facetLabel(v, facet, value, label)} (${number(count)})`));
    return el("div", { class: "facet" }, el("label", { for: id }, t("facet_" + facet)), select);
  });
  const northText = stats.north_is_m49 ? t("northDefault") : north.map(countryName).join(", ");
  const graphBox = el("div", { id: "graph", role: "img", "aria-label": t("graphAlt", { orgs: 0, collabs: 0 }) });
  $("#main").replaceChildren(
    el("h1", {}, t("exploreTitle")),
    el("p", {}, t("exploreIntro", { north: northText })),
    el("div", { class: "facets", role: "group", "aria-label": t("filters") }, ...selects),
    el("p", { id: "counted", class: "count" }, t("counted", { n: number(stats.total) }), " · ",
      el("a", { href: `/api/v1/stats/collaborations?by=direction,level,sector,year&format=csv&${filters}`, download: "collaborations-stats.csv" }, t("downloadStats"))),
    el("div", { class: "dimensions" }, ...DIMENSIONS.map((d) => table(v, d, stats.dimensions[d] || [], stats.total))),
    el("h2", {}, t("graph")),
    el("p", {}, t("colourNote")),
    legend(),
    graphBox);
  await drawGraph(graphBox, stats.items || []);
}

function legend() {
  return el("ul", { class: "legend", "aria-label": t("legend") },
    ...Object.entries(COLOURS).map(([k, c]) => el("li", {}, el("span", { class: "swatch", style: `background:${c}` }), `${t("collabNode")}: ${t(k)}`)),
    ...Object.entries(REGION_COLOURS).map(([r, c]) => el("li", {}, el("span", { class: "swatch round", style: `background:${c}` }), t("regionNode", { region: t("region_" + r) }))),
    el("li", {}, el("span", { class: "swatch round", style: `background:${NO_REGION}` }), t("otherRegion")));
}

async function drawGraph(box, items) {
  const [{ points }] = await Promise.all([api("/api/v1/export/organisations.points.json"), loadCytoscape()]);
  const place = new Map(points.map(([lat, lon, address, name, country]) => [address, { lat, lon, name, country }]));
  const nodes = new Map();
  const edges = [];
  const spread = 8; // pixels per degree
  let unplaced = 0;
  const at = (address) => {
    const p = place.get(address);
    if (p) return { x: p.lon * spread, y: -p.lat * spread };
    const a = (unplaced++ * 2.399963) % (2 * Math.PI); // the golden angle: an even ring
    return { x: Math.cos(a) * 200 * spread, y: Math.sin(a) * 110 * spread };
  };
  for (const item of items) {
    const parties = item.parties.map((p) => {
      if (!nodes.has(p.ref)) nodes.set(p.ref, { data: { id: p.ref, label: p.name || t("unnamed"), kind: "org", colour: REGION_COLOURS[p.regions?.[0]] || NO_REGION }, position: at(p.ref) });
      return nodes.get(p.ref);
    });
    const x = parties.reduce((s, p) => s + p.position.x, 0) / Math.max(parties.length, 1);
    const y = parties.reduce((s, p) => s + p.position.y, 0) / Math.max(parties.length, 1);
    nodes.set(item.address, { data: { id: item.address, label: item.title, kind: "collab", colour: COLOURS[item.direction[0]] || COLOURS.unknown }, position: { x, y } });
    for (const p of item.parties) edges.push({ data: { id: `${item.address}|${p.ref}`, source: p.ref, target: item.address } });
  }
  const orgs = [...nodes.values()].filter((n) => n.data.kind === "org").length;
  box.setAttribute("aria-label", t("graphAlt", { orgs: number(orgs), collabs: number(items.length) }));
  const cy = cytoscape({
    container: box,
    elements: { nodes: [...nodes.values()], edges },
    layout: { name: "preset", fit: true, padding: 20 },
    minZoom: 0.02, maxZoom: 8,
    textureOnViewport: nodes.size > 2000, hideEdgesOnViewport: nodes.size > 2000,
    style: [
      { selector: "node", style: { label: "data(label)", "font-size": 9, "min-zoomed-font-size": 8, "text-valign": "bottom", "text-margin-y": 2, color: "#222", "text-wrap": "ellipsis", "text-max-width": 120 } },
      { selector: 'node[kind = "org"]', style: { "background-color": "data(colour)", width: 10, height: 10 } },
      { selector: 'node[kind = "collab"]', style: { "background-color": "data(colour)", shape: "diamond", width: 12, height: 12 } },
      { selector: "edge", style: { width: 1, "line-color": "#b9b9c9", "curve-style": "haystack", opacity: 0.7 } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#000" } },
    ],
  });
  cy.on("tap", "node", (e) => { if (e.target.id().startsWith("maillage:")) go(href(e.target.id())); });
  box.dataset.nodes = String(nodes.size);
  box.dataset.lang = lang;
  return cy;
}

