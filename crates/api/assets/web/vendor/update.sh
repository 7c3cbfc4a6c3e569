#!/usr/bin/env bash
# Copies the page's third-party files from the npm packages pinned in package.json.
# Run it after changing a version; commit what it changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$work/"
(cd "$work" && npm install --no-audit --no-fund --ignore-scripts --silent)
n="$work/node_modules"
cp "$n/leaflet/dist/leaflet.js" "$n/leaflet/dist/leaflet.css" "$n/leaflet/LICENSE" "$here/leaflet/"
cp "$n/leaflet/dist/images/"*.png "$here/leaflet/images/"
cp "$n/leaflet.markercluster/dist/leaflet.markercluster.js" "$n/leaflet.markercluster/dist/MarkerCluster.css" \
  "$n/leaflet.markercluster/dist/MarkerCluster.Default.css" "$here/leaflet.markercluster/"
cp "$n/leaflet.markercluster/MIT-LICENCE.txt" "$here/leaflet.markercluster/LICENSE"
cp "$n/topojson-client/dist/topojson-client.min.js" "$n/topojson-client/LICENSE" "$here/topojson-client/"
cp "$n/world-atlas/countries-110m.json" "$n/world-atlas/LICENSE" "$here/world-atlas/"
cp "$n/cytoscape/dist/cytoscape.min.js" "$n/cytoscape/LICENSE" "$here/cytoscape/"
