#!/usr/bin/env python3
"""The software bill of materials of one podkit binary, as CycloneDX 1.5 JSON on stdout.

It lists every crate compiled into `PACKAGE`'s binary for `TARGET`, with its version, licence and
repository, and, marked as build-time only (`cdx:rustc:dependency_kind` = `build`), the crates
that only built it: build scripts' dependencies (cc, which compiled ring's and aws-lc's C) and
procedural macros.

Why `cargo tree` rather than `cargo auditable` or `cargo cyclonedx`: both read `cargo metadata`,
which resolves the features of the whole workspace at once, so every tool would list what any
tool uses (podkit-init, which has no async runtime or TLS, would list tokio, rustls, aws-lc).
`make build` builds each tool alone (see the Makefile), and `cargo tree -p PACKAGE` resolves
exactly as that build does, per target.

usage: sbom.py PACKAGE TARGET [--revision REV] [--source URL]
"""

import argparse
import json
import subprocess
import sys
import uuid

# The separator of the fields asked of `cargo tree --format`: in no name, licence or URL.
SEP = "\t"


def crates(package: str, target: str, edges: str) -> dict:
    """{(name, version): (licence, repository, source)} of `cargo tree -e EDGES`."""
    out = subprocess.run(
        [
            "cargo", "tree", "--locked", "--quiet",
            "--package", package,
            "--target", target,
            "--edges", edges,
            "--prefix", "none",
            "--format", SEP.join(["{p}", "{l}", "{r}"]),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        line = line.removesuffix(" (*)")
        if not line.strip():
            continue
        spec, licence, repository = line.split(SEP)
        # `{p}`: `NAME vVERSION`, then ` (SOURCE)` for a path or git package, and ` (proc-macro)`.
        words = spec.split(" ", 2)
        name, version = words[0], words[1].removeprefix("v")
        rest = words[2] if len(words) > 2 else ""
        source = rest.replace("(proc-macro)", "").strip().strip("()") or "crates.io"
        found[(name, version)] = (licence, repository, source)
    return found


def spdx(licence: str) -> str:
    """Cargo's licence field as an SPDX expression: its old `A/B` form means `A OR B`."""
    return " OR ".join(part.strip() for part in licence.split("/"))


def component(
    name: str, version: str, licence: str, repository: str, source: str, build: bool, workspace: str
) -> dict:
    entry = {"type": "library", "name": name, "version": version}
    if source == "crates.io":
        entry["purl"] = f"pkg:cargo/{name}@{version}"
        entry["bom-ref"] = entry["purl"]
    else:
        # A crate of this workspace: no registry knows it, its repository is podkit's.
        entry["bom-ref"] = f"{name}@{version}"
        repository = repository or workspace
    if licence:
        entry["licenses"] = [{"expression": spdx(licence)}]
    if repository:
        entry["externalReferences"] = [{"type": "vcs", "url": repository}]
    if build:
        entry["properties"] = [{"name": "cdx:rustc:dependency_kind", "value": "build"}]
    return entry


def bom(package: str, target: str, revision: str, workspace: str) -> dict:
    # Crates in the binary: normal dependencies, not through a procedural macro.
    linked = crates(package, target, "normal,no-proc-macro")
    every = crates(package, target, "normal,build")
    own = [key for key in linked if key[0] == package]
    if len(own) != 1:
        raise SystemExit(f"sbom.py: cargo tree does not show {package} once")
    (name, version) = own[0]
    licence, repository, _ = linked[own[0]]
    components = [
        component(n, v, *every[(n, v)], build=(n, v) not in linked, workspace=workspace)
        for (n, v) in sorted(every)
        if (n, v) != own[0]
    ]
    application = {
        "type": "application",
        "bom-ref": f"{name}@{version}",
        "name": name,
        "version": version,
        "licenses": [{"expression": spdx(licence)}],
        "properties": [
            {"name": "podkit:target", "value": target},
            {"name": "podkit:revision", "value": revision},
        ],
    }
    if repository or workspace:
        application["externalReferences"] = [{"type": "vcs", "url": repository or workspace}]
    # The same inputs make the same document: its serial number is derived from them.
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"podkit:{name}@{version}:{target}:{revision}")
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {"component": application},
        "components": components,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package")
    parser.add_argument("target")
    parser.add_argument("--revision", default="unknown")
    parser.add_argument("--source", default="", help="the repository of this workspace's crates")
    args = parser.parse_args()
    try:
        document = bom(args.package, args.target, args.revision, args.source)
    except subprocess.CalledProcessError as error:
        print(f"sbom.py: cargo tree failed: {error.stderr.strip()}", file=sys.stderr)
        return 1
    json.dump(document, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
