// The page: search with facets, a clustered map and paging; organisation and
// collaboration pages checked in the browser; the collaboration explorer (explore.js).
// Routes live in the fragment (`#/`, `#/org/<did>/<id>`, `#/collab/<did>/<id>`,
// `#/explore`), so the language switch and an embed keep the view.

import { LANGUAGES, lang, t, has, countryName, languageName, list, number } from "./i18n.js";
import { verify } from "./verify.js";
import { worldMap, clusters, fit, bbox } from "./map.js";

export const $ = (sel, root = document) => root.querySelector(sel);
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null && c !== "") e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
export async function api(path) {
  const r = await fetch(path);
  if (!r.ok) {
    let message = `${r.status}`;
    try { message = (await r.json()).error || message; } catch { /* not JSON */ }
    throw new Error(message);
  }
  return r.json();
}

const params = new URLSearchParams(location.search);
if (params.get("embed") === "1") document.body.classList.add("embed");

// ---- Names: vocabularies from the node, authors by their profiles ----
let vocab = null;
export async function vocabulary() {
  if (!vocab) {
    vocab = api(`/api/v1/vocabularies?lang=${lang}`).then((v) => {
      const byId = new Map();
      for (const concepts of Object.values(v.schemes)) for (const c of concepts) byId.set(c.id, c);
      return { byId, values: v.values };
    });
  }
  return vocab;
}
/** A concept's label in the reader's language, and, when it is in another, which. */
export function conceptLabel(v, id) {
  const c = v.byId.get(id);
  if (!c) return [id, ""];
  return [c.label, c.lang && c.lang !== lang ? t("fallback", { lang: languageName(c.lang) }) : ""];
}
const shortDid = (did) => (did && did.length > 24 ? `${did.slice(0, 14)}…${did.slice(-6)}` : did || "");
/** A network as a reader knows it: its profile's name, else its did, shortened. */
export function who(name, did) {
  return el("span", { class: "who", title: did || "" }, name || shortDid(did));
}
export const href = (address) => "#/" + (address.includes("/collaboration/") ? "collab" : "org") + "/" + address.replace(/^maillage:/, "").replace("/organisation/", "/").replace("/collaboration/", "/");
/** A value of a facet, as a person reads it. */
export function facetLabel(v, facet, value, label) {
  if (label) return label;
  if (facet === "country") return countryName(value);
  if (facet === "region" && has("region_" + value)) return t("region_" + value);
  if (facet === "type" && has("t_" + value)) return t("t_" + value);
  if (facet === "type" && has("ct_" + value)) return t("ct_" + value);
  if (facet === "status" && has("st_" + value)) return t("st_" + value);
  if (facet === "author") return shortDid(value);
  if (facet === "confirmed") return t(value);
  if (value.includes(":")) return conceptLabel(v, value).join(" ").trim();
  return value;
}

// ---- Header: status line, language switch that keeps the view ----
async function status() {
  try {
    const s = await api("/api/v1/status");
    $("#status").replaceChildren(who(s.name, s.did), " · ",
      t("status", { orgs: number(s.records.organisation), collabs: number(s.records.collaboration), peers: s.peers }));
    site.tiles = s.tiles;
  } catch { /* the status line is a nicety */ }
}
export const site = { tiles: null };
function languageLinks() {
  const nav = $("#languages");
  nav.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => {
    const q = new URLSearchParams(location.search);
    q.set("lang", code);
    return el("a", { href: `?${q}${location.hash}`, hreflang: code, lang: code, "aria-current": code === lang ? "true" : false }, name);
  }));
}

// ---- Search ----
const FACETS = ["type", "structure", "activity", "legal_form", "qualifier", "theme", "country", "region", "author"];
const PAGE = 20;
let searchUi = null; // the search view's parts while it is shown
const cursors = new Map(); // `<filters>#<page>` → the cursor that page was read from

function queryOf(hashQuery) {
  const q = new URLSearchParams(hashQuery);
  for (const [k, v] of [...q]) if (!v) q.delete(k);
  return q;
}
const without = (q, ...names) => { const c = new URLSearchParams(q); for (const n of names) c.delete(n); return c; };

async function searchView(query) {
  if (!searchUi) buildSearch();
  const ui = searchUi;
  const filters = without(query, "cursor", "page");
  const input = $("#q");
  if (document.activeElement !== input) input.value = query.get("q") || "";
  const apiQuery = new URLSearchParams(query);
  apiQuery.delete("page");
  apiQuery.set("limit", PAGE);
  const exportQuery = without(filters, "sort");
  // The map's points load beside the list, once per set of filters (not per page).
  const pointsFor = exportQuery.toString();
  const points = ui.pointsFor === pointsFor ? null
    : (ui.pointsFor = pointsFor, api(`/api/v1/export/organisations.points.json?sort=updated&${exportQuery}`)
      .catch((e) => { ui.pointsFor = null; ui.mapNote.textContent = e.message; return { points: [] }; }));
  const labels = vocabulary();
  let found;
  try {
    found = await api("/api/v1/organisations?" + apiQuery);
  } catch (e) {
    ui.results.replaceChildren(el("p", { role: "alert", class: "error" }, e.message));
    ui.pointsFor = null;
    return;
  }
  const v = await labels;
  const pageNo = Number(query.get("page") || 1);
  cursors.set(`${filters}#${pageNo}`, query.get("cursor") || "");
  ui.count.textContent = found.total === 1 ? t("resultsOne") : t("results", { n: number(found.total) });
  ui.results.replaceChildren(...found.items.map((r) => resultItem(r, v)));
  if (!found.items.length) ui.results.append(el("li", {}, t("none")));
  const from = (pageNo - 1) * PAGE + 1;
  ui.pager.replaceChildren(
    found.items.length ? el("span", {}, t("page", { from: number(from), to: number(from + found.items.length - 1), n: number(found.total) })) : "",
    pageNo > 1 ? el("button", { type: "button", id: "previous", onclick: () => {
      // Back to the page before when it was seen here; from a shared link, to the first.
      const q = new URLSearchParams(filters); const back = cursors.get(`${filters}#${pageNo - 1}`);
      if (back) { q.set("cursor", back); q.set("page", pageNo - 1); }
      go("#/?" + q);
    } }, t("previous")) : "",
    found.next_cursor ? el("button", { type: "button", id: "next", onclick: () => {
      const q = new URLSearchParams(query); q.set("cursor", found.next_cursor); q.set("page", pageNo + 1); go("#/?" + q);
    } }, t("next")) : "");
  renderFacets(found.facets, filters, v);
  ui.downloads.replaceChildren(el("span", {}, t("downloads"), ": "),
    ...[["csv", "downloadCsv"], ["geojson", "downloadGeojson"], ["jsonld", "downloadJsonld"]].map(([ext, key]) =>
      el("a", { href: `/api/v1/export/organisations.${ext}?${exportQuery}`, download: `organisations.${ext}` }, t(key))));
  if (points) {
    const [{ points: located }] = await Promise.all([points, ui.ready]);
    if (ui.pointsFor !== pointsFor || searchUi !== ui) return; // a newer search is on its way
    if (ui.markers) ui.map.removeLayer(ui.markers.layer);
    ui.markers = clusters(ui.map, located, href);
    ui.mapNote.textContent = t("mapAlt", { n: number(located.length) });
    if (!query.has("bbox")) fit(ui.map, located);
  }
}

function resultItem(r, v) {
  const b = r.body;
  const place = [...new Set([...(b.countries || []), b.address?.country].filter(Boolean))].map(countryName).join(", ");
  const activity = b.primary_activity ? conceptLabel(v, b.primary_activity)[0] : "";
  return el("li", {},
    el("a", { href: href(r.address), class: "name" }, b.name),
    el("div", { class: "meta" }, [b.type && (has("t_" + b.type) ? t("t_" + b.type) : b.type), place, activity].filter(Boolean).join(" · ")),
    el("div", { class: "meta" }, t("listedBy", { who: "" }), who(r.author_name, r.author)),
    b.location ? el("button", { type: "button", class: "link", onclick: () => { searchUi.markers?.show(r.address); $("#map").scrollIntoView({ block: "nearest" }); } }, t("showOnMap")) : "");
}

function renderFacets(facets, filters, v) {
  const focused = document.activeElement?.name;
  const box = searchUi.facets;
  const chips = [];
  const selects = FACETS.filter((f) => facets[f]).map((facet) => {
    const current = filters.get(facet);
    const values = facets[facet];
    const id = "facet-" + facet;
    const select = el("select", { id, name: facet, onchange: (e) => {
      const q = without(filters, facet); if (e.target.value) q.set(facet, e.target.value); go("#/?" + q);
    } }, el("option", { value: "" }, `${t("any")}`));
    let seen = false;
    for (const { value, count, label } of values) {
      seen ||= value === current;
      select.append(el("option", { value, selected: value === current }, `${facetLabel(v, facet, value, label)} (${number(count)})`));
    }
    if (current && !seen) select.append(el("option", { value: current, selected: true }, `${facetLabel(v, facet, current)} (0)`));
    if (current) {
      const text = facetLabel(v, facet, current, values.find((x) => x.value === current)?.label);
      chips.push(el("button", { type: "button", class: "chip", "aria-label": t("remove", { v: text }), onclick: () => go("#/?" + without(filters, facet)) }, `${t("facet_" + facet)}: ${text} ×`));
    }
    return el("div", { class: "facet" }, el("label", { for: id }, t("facet_" + facet)), select);
  });
  const names = { bbox: t("searchArea"), near: t("near"), member_of: t("f_member_of") };
  const extra = Object.keys(names).filter((k) => filters.has(k)).map((k) =>
    el("button", { type: "button", class: "chip", onclick: () => go("#/?" + without(filters, k)) }, `${names[k]} ×`));
  box.replaceChildren(...selects, el("div", { class: "chips" }, ...chips, ...extra,
    chips.length + extra.length > 1 ? el("button", { type: "button", class: "link", onclick: () => go("#/?" + (filters.get("q") ? "q=" + encodeURIComponent(filters.get("q")) : "")) }, t("clear")) : ""));
  if (focused && FACETS.includes(focused)) box.querySelector(`[name="${focused}"]`)?.focus();
}

function buildSearch() {
  let timer = null;
  const input = el("input", { id: "q", name: "q", type: "search", autocomplete: "off", placeholder: t("searchHint"), "aria-describedby": "count",
    oninput: () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const q = without(currentQuery(), "cursor", "page");
        if (input.value.trim()) q.set("q", input.value.trim()); else q.delete("q");
        go("#/?" + q, { replace: true });
      }, 250);
    } });
  const form = el("form", { role: "search", onsubmit: (e) => { e.preventDefault(); input.dispatchEvent(new Event("input")); } },
    el("label", { for: "q", class: "visually-hidden" }, t("searchLabel")), input, el("button", { type: "submit" }, t("search")));
  const mapBox = el("div", { id: "map", role: "region", "aria-label": t("map"), "aria-describedby": "map-note" });
  const searchArea = el("button", { type: "button", id: "search-area", onclick: () => {
    const q = without(currentQuery(), "cursor", "page", "near"); q.set("bbox", bbox(searchUi.map)); go("#/?" + q);
  } }, t("searchArea"));
  const ui = {
    count: el("p", { id: "count", class: "count", "aria-live": "polite" }),
    results: el("ol", { class: "results", id: "results" }),
    pager: el("nav", { class: "pager", "aria-label": t("pages") }),
    facets: el("div", { class: "facets", role: "group", "aria-label": t("filters") }),
    downloads: el("p", { class: "downloads" }),
    mapNote: el("p", { id: "map-note", class: "visually-hidden" }),
    map: null, markers: null, pointsFor: null,
  };
  $("#main").replaceChildren(el("h1", { class: "visually-hidden" }, t("homeTitle")), form, ui.facets,
    el("div", { class: "cols" },
      el("section", { class: "list", "aria-labelledby": "count" }, ui.count, ui.results, ui.pager, ui.downloads),
      el("section", { class: "mapcol" }, mapBox, searchArea, ui.mapNote)));
  searchUi = ui;
  ui.ready = worldMap(mapBox, site.tiles).then((m) => { ui.map = m; });
}
const currentQuery = () => queryOf(location.hash.split("?")[1] || "");

// ---- An organisation ----
const rowOf = (key, ...value) => (value.flat().filter((x) => x != null && x !== "").length ? el("tr", {}, el("th", { scope: "row" }, t(key)), el("td", {}, ...value)) : "");
function localized(map) {
  if (!map || !Object.keys(map).length) return ["", ""];
  if (map[lang]) return [map[lang], ""];
  const [l, text] = map.en ? ["en", map.en] : Object.entries(map)[0];
  return [text, t("fallback", { lang: languageName(l) })];
}
const withFallback = ([text, note]) => (text ? [text, note ? el("span", { class: "fallback" }, " ", note) : ""] : "");
const concepts = (v, ids) => (ids || []).map((id) => { const [label, note] = conceptLabel(v, id); return el("span", { class: "tag", title: id }, label, note ? el("span", { class: "fallback" }, " ", note) : ""); });
// Only http(s) becomes a link: what a record says is checked by the node, but a record
// whose signature fails here is shown as it came, and may say anything.
const linkTo = (url) => (/^https?:\/\//i.test(url) ? el("a", { href: url, rel: "nofollow noopener", target: "_blank" }, url) : el("span", {}, url));

/** The record, its signature checked here: what is shown comes from the verified bytes. */
async function checked(rec, badge, kind, id) {
  try {
    const signed = await verify(rec);
    if (signed.kind !== kind || signed.id !== id) throw new Error(`this is ${signed.kind}/${signed.id}, not the record asked for`);
    badge.className = "badge valid"; badge.textContent = t("valid");
    const body = signed.body;
    if (body.location && "lat_e7" in body.location) body.location = { lat: body.location.lat_e7 / 1e7, lon: body.location.lon_e7 / 1e7 };
    return body;
  } catch (e) {
    // A browser without Ed25519 in WebCrypto cannot tell; it must not call the record forged.
    if (e.name === "NotSupportedError") { badge.className = "badge pending"; badge.textContent = t("cannotCheck"); }
    else { badge.className = "badge invalid"; badge.textContent = `${t("invalid")}: ${e.message}`; }
    return rec.body;
  }
}

/** A reference as a link, by the name the node gave it (`names`), if it holds it. */
function referenceLink(reference, names) {
  if (!reference.startsWith("maillage:")) return linkTo(reference);
  const name = names?.[reference];
  const [did, , id] = reference.replace(/^maillage:/, "").split("/");
  return el("a", { href: href(reference), title: name ? reference : t("notHere") }, name || `${id} (${shortDid(did)})`);
}

/**
 * A record's page: fetched, titled, its signature checked against the address asked for.
 * Returns the record, its verified body and the page to fill, or nothing when there is no
 * such record here.
 */
async function recordPage(did, kind, id, titleId, titleOf) {
  let rec;
  try { rec = await api(`/api/v1/records/${did}/${kind}/${id}`); } catch { rec = null; }
  if (!rec || rec.author !== did) { $("#main").replaceChildren(el("p", { role: "alert" }, t("notFound"))); return null; }
  const badge = el("span", { class: "badge pending", id: "badge", role: "status" }, t("checking"));
  const title = el("h1", { id: titleId }, titleOf(rec.body));
  const page = el("article", { class: "record" }, title, badge);
  $("#main").replaceChildren(page);
  const b = await checked(rec, badge, kind, id);
  title.textContent = titleOf(b);
  document.title = `${titleOf(b)} · Maillage`;
  return { rec, b, page };
}

async function orgView(did, id) {
  const shown = await recordPage(did, "organisation", id, "org-name", (b) => b.name);
  if (!shown) return;
  const { rec, b, page } = shown;
  const v = await vocabulary();
  const a = b.address || {};
  const m = b.members || {};
  const links = Object.entries(b.links || {}).flatMap(([kind, urls]) => urls.map((u) => el("div", {}, `${kind}: `, linkTo(u))));
  page.append(
    el("p", { class: "provenance" }, t("listedBy", { who: "" }), who(rec.author_name, rec.author)),
    el("p", { id: "description" }, ...[withFallback(localized(b.description))].flat()),
    el("table", { id: "fields", class: "fields" }, el("tbody", {},
      rowOf("f_alternate_names", (b.alternate_names || []).join(" · ")),
      rowOf("f_mission", withFallback(localized(b.mission))),
      rowOf("f_type", b.type && (has("t_" + b.type) ? t("t_" + b.type) : b.type)),
      rowOf("f_organisational_structures", concepts(v, b.organisational_structures)),
      rowOf("f_legal_forms", concepts(v, b.legal_forms)),
      rowOf("f_legal_form", b.legal_form),
      rowOf("f_base_membership_type", concepts(v, b.base_membership_type ? [b.base_membership_type] : [])),
      rowOf("f_primary_activity", concepts(v, b.primary_activity ? [b.primary_activity] : [])),
      rowOf("f_activities", concepts(v, b.activities)),
      rowOf("f_products_services", concepts(v, b.products_services)),
      rowOf("f_qualifiers", concepts(v, b.qualifiers)),
      rowOf("f_themes", concepts(v, b.themes)),
      rowOf("f_type_of_labour", concepts(v, b.type_of_labour)),
      rowOf("f_tags", (b.tags || []).map((x) => el("span", { class: "tag" }, x))),
      rowOf("f_scope", b.scope && (has("s_" + b.scope) ? t("s_" + b.scope) : b.scope)),
      rowOf("f_countries", (b.countries || []).map(countryName).join(", ")),
      rowOf("f_regions", (b.regions || []).map((r) => t("region_" + r)).join(", ")),
      rowOf("f_address", [a.street, a.postcode, a.locality, a.region, a.country && countryName(a.country)].filter(Boolean).join(", ")),
      rowOf("f_languages", (b.languages || []).map(languageName).join(", ")),
      rowOf("f_website", b.website ? linkTo(b.website) : ""),
      rowOf("f_emails", (b.emails || []).map((e) => el("div", {}, el("a", { href: "mailto:" + e }, e)))),
      rowOf("f_phones", (b.phones || []).map((p) => el("div", {}, el("a", { href: "tel:" + p.replace(/\s/g, "") }, p)))),
      rowOf("f_links", links),
      rowOf("f_identifiers", Object.entries(b.identifiers || {}).map(([k, x]) => el("div", {}, `${k}: ${x}`))),
      rowOf("f_member_of", (b.member_of || []).map((r) => el("div", {}, referenceLink(r, rec.names)))),
      rowOf("f_relationships", (b.relationships || []).map((r) => el("div", {}, `${r.predicate.split(/[/#]/).pop()}: `, referenceLink(r.object, rec.names)))),
      rowOf("f_members", [m.total != null ? t("membersCount", { total: number(m.total) }) : "", m.women != null ? t("women", { n: number(m.women) }) : "", m.men != null ? t("men", { n: number(m.men) }) : ""].filter(Boolean).join(" · ")),
      rowOf("f_founded", b.founded), rowOf("f_dissolved", b.dissolved), rowOf("f_status", b.status && (has("st_" + b.status) ? t("st_" + b.status) : b.status)),
      rowOf("f_properties", Object.entries(b.properties || {}).map(([k, x]) => el("div", {}, el("span", { class: "meta" }, `${k}: `), x))))));
  if (b.location) {
    const small = el("div", { class: "small-map", role: "img", "aria-label": `${b.name}: ${b.location.lat.toFixed(4)}, ${b.location.lon.toFixed(4)}` });
    page.append(small);
    worldMap(small, site.tiles, { small: true }).then((map) => {
      L.circleMarker([b.location.lat, b.location.lon], { radius: 7, color: "#7a1d16", fillColor: "#c0392b", fillOpacity: 0.9 }).addTo(map);
      map.setView([b.location.lat, b.location.lon], 5);
    });
  }
  page.append(el("p", { class: "meta hash" }, `${t("hash")}: `, el("code", {}, rec.hash)));
  const members = await api(`/api/v1/organisations?limit=100&sort=name&member_of=${encodeURIComponent(rec.address)}`).catch(() => ({ items: [], total: 0 }));
  if (members.total) {
    page.append(el("h2", {}, t("members", { n: number(members.total) })), el("ul", { id: "members", class: "collabs" },
      ...members.items.map((m) => el("li", {}, el("a", { href: href(m.address) }, m.body.name)))),
      members.total > members.items.length ? el("p", {}, el("a", { href: "#/?member_of=" + encodeURIComponent(rec.address) }, t("allMembers"))) : "");
  }
  const collabs = await api(`/api/v1/collaborations?limit=100&party=${encodeURIComponent(rec.address)}`).catch(() => ({ items: [] }));
  if (collabs.items.length) {
    page.append(el("h2", {}, t("collaborations")), el("ul", { id: "collaborations", class: "collabs" }, ...collabs.items.map((c) => {
      const partners = (c.confirmation?.parties || []).filter((p) => p.reference !== rec.address);
      return el("li", {}, el("a", { href: href(c.address), class: "name" }, c.body.title), " ", verdictBadge(c),
        partners.length ? el("div", { class: "meta" }, `${t("parties")}: `, ...partners.flatMap((p, i) => [i ? ", " : "", partyName(p)])) : "");
    })));
  }
}

function partyName(p) {
  const text = p.name || (p.state === "deleted" ? t("deleted") : t("unnamed"));
  return p.reference.startsWith("maillage:") ? el("a", { href: href(p.reference) }, text) : linkTo(p.reference);
}
const listerName = (p) => p.lister_name || shortDid(p.lister) || p.reference;
/** A deleted party has no name left: its id, and who had listed it. */
const goneName = (p) => p.name || `${p.reference.split("/").pop()} (${t("listedBy", { who: p.lister_name || shortDid(p.lister || p.reference.replace(/^maillage:/, "").split("/")[0]) })})`;

/** What a collaboration's confirmation honestly comes to, in words. */
export function verdictText(c) {
  const conf = c.confirmation || { verdict: "awaiting", parties: [] };
  const uniq = (xs) => [...new Set(xs)];
  const author = c.author_name || shortDid(c.author);
  switch (conf.verdict) {
    case "confirmed": return t("v_confirmed", { who: list(uniq(conf.parties.map(listerName))) });
    case "one-voice": return t("v_one-voice", { who: uniq(conf.parties.map(listerName))[0] || author });
    case "party-deleted": return t("v_party-deleted", { gone: list(conf.parties.filter((p) => p.state === "deleted").map(goneName)) });
    default: return t("v_awaiting", { who: author, waiting: list(uniq(conf.parties.filter((p) => p.state !== "confirmed").map(listerName))) });
  }
}
function verdictBadge(c) {
  const verdict = c.confirmation?.verdict || "awaiting";
  return el("span", { class: `badge verdict ${verdict === "confirmed" ? "valid" : verdict === "party-deleted" ? "invalid" : "pending"}`, "data-verdict": verdict }, verdictText(c));
}

// ---- A collaboration ----
async function collabView(did, id) {
  const shown = await recordPage(did, "collaboration", id, "collab-title", (b) => b.title);
  if (!shown) return;
  const { rec, b, page } = shown;
  const v = await vocabulary();
  const states = new Map((rec.confirmation?.parties || []).map((p) => [p.reference, p]));
  const listers = new Map((rec.confirmation?.parties || []).filter((p) => p.lister_name).map((p) => [p.lister, p.lister_name]));
  page.append(
    el("p", { class: "provenance" }, t("listedBy", { who: "" }), who(rec.author_name, rec.author)),
    el("p", { id: "verdict" }, verdictBadge(rec)),
    el("p", { id: "description" }, ...[withFallback(localized(b.description))].flat()),
    el("table", { class: "fields" }, el("tbody", {},
      rowOf("f_type", b.type && (has("ct_" + b.type) ? t("ct_" + b.type) : b.type)), rowOf("f_status", b.status && (has("st_" + b.status) ? t("st_" + b.status) : b.status)), rowOf("f_start", b.start), rowOf("f_end", b.end),
      rowOf("f_themes", concepts(v, (b.themes || []).map((x) => (x.includes(":") ? x : "themes:" + x)))),
      rowOf("f_countries", (b.countries || []).map(countryName).join(", ")),
      rowOf("f_regions", (b.regions || []).map((r) => t("region_" + r)).join(", ")),
      rowOf("f_links", (b.links || []).map((u) => el("div", {}, linkTo(u)))))),
    el("h2", {}, t("parties")),
    el("table", { id: "parties", class: "parties" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("parties")), el("th", { scope: "col" }, t("role")), el("th", { scope: "col" }, t("state")))),
      el("tbody", {}, ...(b.parties || []).map((party) => {
        const p = states.get(party.ref) || { reference: party.ref, state: "unknown" };
        const state = t("p_" + p.state, { who: listerName(p) });
        return el("tr", { "data-state": p.state }, el("td", {}, partyName(p)), el("td", {}, t("r_" + party.role)), el("td", {}, state));
      }))),
    rec.endorsed_by?.length ? el("p", { class: "meta" }, t("endorsedBy", { who: "" }), ...rec.endorsed_by.flatMap((d, i) => [i ? ", " : "", who(listers.get(d), d)])) : "",
    el("p", { class: "meta hash" }, `${t("hash")}: `, el("code", {}, rec.hash)));
}

// ---- Routing ----
export function go(hash, { replace = false } = {}) {
  if (replace) { history.replaceState(null, "", hash); route(); } else location.hash = hash;
}
let routing = Promise.resolve();
let latest = 0;
async function route() {
  const generation = ++latest;
  languageLinks();
  const [path, q] = location.hash.slice(1).split("?");
  const parts = (path || "").split("/").filter(Boolean);
  for (const a of document.querySelectorAll("#nav a")) a.setAttribute("aria-current", a.dataset.view === (parts[0] === "explore" ? "explore" : "organisations") ? "page" : "false");
  document.body.dataset.ready = "no";
  routing = routing.then(async () => {
    // A view asked for while another was drawn is passed over when a newer one followed it
    // (typing queues a search per pause; only the last is wanted).
    if (generation !== latest) return;
    if (parts[0] !== undefined && parts[0] !== "" && searchUi) { searchUi.map?.remove(); searchUi = null; }
    if (parts[0] === "org" && parts.length === 3) await orgView(parts[1], parts[2]);
    else if (parts[0] === "collab" && parts.length === 3) await collabView(parts[1], parts[2]);
    else if (parts[0] === "explore") { const { exploreView } = await import("./explore.js"); await exploreView(queryOf(q || "")); }
    else { document.title = "Maillage"; await searchView(queryOf(q || "")); if (searchUi) await searchUi.ready; }
    // A new view takes the focus to its heading; a search typed into keeps it in the box.
    if (parts.length && parts[0] !== "") { const h = $("main h1"); if (h) { h.tabIndex = -1; h.focus({ preventScroll: true }); } }
  }).catch((e) => {
    searchUi?.map?.remove();
    searchUi = null;
    $("#main").replaceChildren(el("p", { role: "alert", class: "error" }, e.message));
  }).finally(() => { if (generation === latest) document.body.dataset.ready = "yes"; });
  return routing;
}

for (const e of document.querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
for (const e of document.querySelectorAll("[data-t-label]")) e.setAttribute("aria-label", t(e.dataset.tLabel));
window.addEventListener("hashchange", route);
status().then(route);
