// Generates ../country-names.tsv and ../country-regions.tsv from Unicode CLDR
// (npm packages cldr-localenames-full and cldr-core, versions pinned in package.json).
//
// Usage (Node 20, no other packages):
//   cd crates/core/data/cldr && npm install && node generate.mjs
//
// CLDR data: Copyright © Unicode, Inc., Unicode License V3 (see node_modules/*/LICENSE).

import { readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const DATA = join(HERE, '..');
const MODULES = join(HERE, 'node_modules');
const NAMES_OUT = join(DATA, 'country-names.tsv');
const REGIONS_OUT = join(DATA, 'country-regions.tsv');
const MAX_NAMES_BYTES = 1_500_000;
const LEVELS = new Set(['modern', 'moderate']);

// Known CLDR data errors, left out: locale -> territory keys.
// el-polyton LA (Laos) is "Λατινικὴ Ἀμερική" (Latin America) in CLDR 48.
const ERRATA = { 'el-polyton': ['LA'] };

const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));

// ---------------------------------------------------------------------------
// Folding. The Rust side applies exactly the same definition:
//   NFKD, lowercase, drop combining marks (\p{M}), keep only letters and numbers.
export function fold(s) {
  return s
    .normalize('NFKD')
    .toLowerCase()
    .replace(/\p{M}/gu, '')
    .replace(/[^\p{L}\p{N}]/gu, '');
}

// A folded form that is empty, or 2–3 ASCII letters/digits (it could be taken
// for an ISO 3166 alpha-2/alpha-3 code), is not used as a name. Short names in
// other scripts (日本, 中国, ΗΠΑ…) cannot be confused with a code and are kept.
function dropReason(folded) {
  if (folded.length === 0) return 'empty';
  const n = [...folded].length;
  if ((n === 2 || n === 3) && /^[a-z0-9]+$/.test(folded)) return 'code-like';
  return null;
}

// Compare by Unicode code point (same order as Rust's str Ord).
function cmpCodePoints(a, b) {
  const A = [...a];
  const B = [...b];
  const n = Math.min(A.length, B.length);
  for (let i = 0; i < n; i++) {
    const x = A[i].codePointAt(0);
    const y = B[i].codePointAt(0);
    if (x !== y) return x - y;
  }
  return A.length - B.length;
}

function pkgVersion(name) {
  return readJson(join(MODULES, name, 'package.json')).version;
}

// ---------------------------------------------------------------------------
// Inputs.
const codes = readFileSync(join(DATA, 'countries.tsv'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'))
  .map((l) => l.split('\t')[0].trim());
const codeSet = new Set(codes);
if (codeSet.size !== codes.length) throw new Error('duplicate codes in countries.tsv');

const localenamesVersion = pkgVersion('cldr-localenames-full');
const coreVersion = pkgVersion('cldr-core');
const cldrMajorMinor = localenamesVersion.split('.').slice(0, 2).join('.');

const coverage = readJson(join(MODULES, 'cldr-core', 'coverageLevels.json'));
// effectiveCoverageLevels covers regional variants (pt-PT, es-419…) too;
// coverageLevels only lists the locales that have their own target level.
const levels = { ...coverage.coverageLevels, ...coverage.effectiveCoverageLevels };
const mainDir = join(MODULES, 'cldr-localenames-full', 'main');
const allLocales = readdirSync(mainDir)
  .filter((l) => existsSync(join(mainDir, l, 'territories.json')))
  .filter((l) => LEVELS.has(levels[l]))
  .sort();

// A regional variant is a locale whose last subtag is a region (FR, 419…).
const isRegional = (l) => {
  const parts = l.split('-');
  return parts.length > 1 && /^([A-Z]{2}|\d{3})$/.test(parts[parts.length - 1]);
};

function territoriesOf(locale) {
  const j = readJson(join(mainDir, locale, 'territories.json'));
  return j.main[locale].localeDisplayNames.territories;
}

// ---------------------------------------------------------------------------
// country-names.tsv

// names: Map(name -> number of locale entries using it)
function pickName(names) {
  return [...names].sort((a, b) => b[1] - a[1] || cmpCodePoints(a[0], b[0]))[0][0];
}

function buildNames(locales) {
  // folded -> Map(code -> Map(name -> count))
  const byFolded = new Map();
  let shortDropped = 0;
  let emptyDropped = 0;
  for (const locale of locales) {
    const terr = territoriesOf(locale);
    for (const [key, raw] of Object.entries(terr)) {
      const m = /^([A-Z]{2})(-alt-[a-z0-9-]+)?$/.exec(key);
      if (!m || !codeSet.has(m[1])) continue;
      if (ERRATA[locale]?.includes(key)) continue;
      const code = m[1];
      const name = raw.normalize('NFC').replace(/[\t\r\n]+/g, ' ').trim();
      if (name === '') continue;
      const f = fold(name);
      const why = dropReason(f);
      if (why === 'empty') { emptyDropped++; continue; }
      if (why === 'code-like') { shortDropped++; continue; }
      if (!byFolded.has(f)) byFolded.set(f, new Map());
      const perCode = byFolded.get(f);
      if (!perCode.has(code)) perCode.set(code, new Map());
      const names = perCode.get(code);
      names.set(name, (names.get(name) ?? 0) + 1);
    }
  }
  const ambiguous = [];
  const lines = [];
  for (const [f, perCode] of byFolded) {
    if (perCode.size > 1) {
      ambiguous.push({ folded: f, perCode });
      continue;
    }
    const [[code, names]] = [...perCode];
    // One representative per (code, folded form): the spelling used by the most
    // locale entries, ties broken by code point order.
    const name = pickName(names);
    lines.push([code, name]);
  }
  lines.sort((a, b) => (a[0] === b[0] ? cmpCodePoints(a[1], b[1]) : a[0] < b[0] ? -1 : 1));
  ambiguous.sort((a, b) => cmpCodePoints(a.folded, b.folded));
  return { lines, ambiguous, shortDropped, emptyDropped };
}

function wrap(prefix, items, width = 100) {
  const out = [];
  let cur = prefix;
  for (const it of items) {
    if (cur.length + it.length + 1 > width && cur.trim() !== '#') {
      out.push(cur.trimEnd());
      cur = '#   ';
    }
    cur += it + ' ';
  }
  if (cur.trim() !== '#') out.push(cur.trimEnd());
  return out;
}

function renderNames(locales, result, note) {
  const { lines, ambiguous } = result;
  const header = [
    '# Country names in many languages: ISO 3166-1 alpha-2 code, name (as CLDR writes it, NFC).',
    `# Generated by crates/core/data/cldr/generate.mjs from Unicode CLDR ${cldrMajorMinor}`,
    `# (npm cldr-localenames-full ${localenamesVersion}, cldr-core ${coreVersion}; Unicode License V3,`,
    '# Copyright © Unicode, Inc.). Do not edit by hand: run `npm install && node generate.mjs` in that folder.',
    '# Names: the territory display names of each code of countries.tsv (with the -alt-variant,',
    '# -alt-short and other -alt- forms), one line per code and folded form, sorted by code then name.',
    "# fold(s) = NFKD, lowercase, remove \\p{M}, keep only \\p{L}\\p{N}. Names whose folded form is",
    '# empty or is 2-3 ASCII letters/digits (could be a code) are left out, and so are these known',
    '# CLDR errors: ' + Object.entries(ERRATA).map(([l, ks]) => ks.map((k) => `${l} ${k}`).join(', ')).join(', ') + '.',
    `# Locales: ${locales.length} locales of cldr-localenames-full with coverage level modern or moderate` +
      ` (cldr-core coverageLevels.json)${note ? '; ' + note : ''}:`,
    ...wrap('#   ', locales),
    `# Ambiguous folded forms left out for every code (${ambiguous.length}): folded form: code name | code name`,
    ...ambiguous.map(({ folded, perCode }) =>
      '#   ' + folded + ': ' +
        [...perCode].sort((a, b) => (a[0] < b[0] ? -1 : 1))
          .map(([c, ns]) => `${c} ${pickName(ns)}`).join(' | ')),
  ];
  return header.join('\n') + '\n' + lines.map(([c, n]) => `${c}\t${n}`).join('\n') + '\n';
}

let locales = allLocales;
let note = '';
let result = buildNames(locales);
let namesText = renderNames(locales, result, note);
if (Buffer.byteLength(namesText) > MAX_NAMES_BYTES) {
  locales = allLocales.filter((l) => !isRegional(l));
  note = 'regional variants dropped to keep the file small';
  result = buildNames(locales);
  namesText = renderNames(locales, result, note);
}
writeFileSync(NAMES_OUT, namesText);

// ---------------------------------------------------------------------------
// country-regions.tsv (UN M49 via CLDR territoryContainment; main containment only)
const containment = readJson(join(MODULES, 'cldr-core', 'supplemental', 'territoryContainment.json'))
  .supplemental.territoryContainment;
const isMain = (key) => !key.includes('-status-') && containment[key] && containment[key]._grouping !== 'true';
const children = (key) => (isMain(key) ? containment[key]._contains : []);

const continents = children('001').filter((k) => /^\d{3}$/.test(k));
const regionOf = new Map(); // code -> [subregion, continent]
for (const continent of continents) {
  for (const sub of children(continent)) {
    if (!/^\d{3}$/.test(sub)) continue; // e.g. QO (Outlying Oceania) is not an M49 region
    const stack = [...children(sub)];
    while (stack.length) {
      const t = stack.pop();
      if (/^[A-Z]{2}$/.test(t) && !isMain(t)) {
        if (!regionOf.has(t)) regionOf.set(t, [sub, continent]);
      } else {
        stack.push(...children(t));
      }
    }
  }
}
const latam = new Set();
{
  const stack = [...(containment['419']?._contains ?? [])];
  while (stack.length) {
    const t = stack.pop();
    if (containment[t]) stack.push(...containment[t]._contains);
    else latam.add(t);
  }
}
const noRegion = codes.filter((c) => !regionOf.has(c));
const regionLines = codes
  .slice()
  .sort()
  .map((c) => {
    const [sub, cont] = regionOf.get(c) ?? ['-', '-'];
    return `${c}\t${sub}\t${cont}\t${latam.has(c) ? 'yes' : 'no'}`;
  });
const regionsText = [
  '# Region of each country of countries.tsv: ISO 3166-1 alpha-2 code, UN M49 sub-region,',
  '# UN M49 continent (002 Africa, 019 Americas, 142 Asia, 150 Europe, 009 Oceania), and whether',
  '# it is in 419 Latin America and the Caribbean (yes/no).',
  `# Generated by crates/core/data/cldr/generate.mjs from Unicode CLDR ${cldrMajorMinor}`,
  `# (npm cldr-core ${coreVersion}, supplemental/territoryContainment.json; Unicode License V3,`,
  '# Copyright © Unicode, Inc.). Main containment only: groupings (EU, EZ, UN, 202, 003, 419) and',
  '# -status-grouping / -status-deprecated entries are not used for the sub-region.',
  `# No M49 sub-region in CLDR (${noRegion.length}), written as -: ${noRegion.join(' ')}`,
  ...regionLines,
].join('\n') + '\n';
writeFileSync(REGIONS_OUT, regionsText);

// ---------------------------------------------------------------------------
// Report.
console.log(`CLDR ${localenamesVersion} / cldr-core ${coreVersion}`);
console.log(`locales with modern/moderate coverage: ${allLocales.length}` +
  (locales.length !== allLocales.length ? `, used ${locales.length} (${note})` : ', all used'));
console.log(`country-names.tsv: ${result.lines.length} names, ${Buffer.byteLength(namesText)} bytes`);
console.log(`  dropped: ${result.emptyDropped} empty, ${result.shortDropped} code-like (2-3 ASCII chars) occurrences`);
console.log(`  ambiguous folded forms dropped: ${result.ambiguous.length}`);
console.log(`country-regions.tsv: ${regionLines.length} codes, no region: ${noRegion.join(' ') || '(none)'}`);
