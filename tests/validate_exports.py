#!/usr/bin/env python3
"""Validates Maillage exports with off-the-shelf tools.

Usage: validate_exports.py JSONLD_FILE PROFILE.json...

The JSON-LD export must expand with its own @context (PyLD) into one node per organisation,
each with a schema.org name; every Murmurations profile must pass the published
organizations_schema-v1.0.0 (jsonschema, draft-07, with the schema's ../fields/ references
resolved against the copy beside it). Prints "N passed, M failed".
"""

import json
import pathlib
import sys

import jsonschema
from pyld import jsonld

SCHEMAS = pathlib.Path(__file__).resolve().parent / "murmurations"


def murmurations_validator():
    schema_path = SCHEMAS / "schemas" / "organizations_schema-v1.0.0.json"
    schema = json.loads(schema_path.read_text())
    store = {}
    for field in (SCHEMAS / "fields").glob("*.json"):
        store[f"{schema['$id'].rsplit('/schemas/', 1)[0]}/fields/{field.name}"] = json.loads(field.read_text())
    resolver = jsonschema.RefResolver(base_uri=schema["$id"], referrer=schema, store=store)
    return jsonschema.Draft7Validator(schema, resolver=resolver)


def main(jsonld_path, profile_paths):
    passed = failed = 0
    document = json.loads(pathlib.Path(jsonld_path).read_text())
    expanded = jsonld.expand(document)
    names = [n for n in expanded if "http://schema.org/name" in n or "https://schema.org/name" in n]
    if len(names) == len(document["@graph"]) and names:
        passed += 1
    else:
        failed += 1
        print(f"{jsonld_path}: {len(names)} named nodes after expansion, {len(document['@graph'])} in the graph", file=sys.stderr)
    validator = murmurations_validator()
    for path in profile_paths:
        profile = json.loads(pathlib.Path(path).read_text())
        errors = list(validator.iter_errors(profile))
        if errors:
            failed += 1
            for e in errors:
                print(f"{path}: {e.message} at {list(e.path)}", file=sys.stderr)
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
