#!/usr/bin/env python3
"""Joins the single-architecture images of one OCI layout into one image index, and checks it.

`skopeo copy docker-daemon:IMAGE oci:LAYOUT:ARCH` leaves in LAYOUT one image manifest per
architecture, each named by its architecture. This writes the OCI image index that lists them
with their platforms, read from each image's own config (so an image whose config names another
architecture than its name is refused, not published under the wrong platform), puts the index
in their place in the layout's index.json under the name TAG, and annotates it. A registry then
gets every architecture under one name with one `skopeo copy --all`.

Then it reads the layout back as a client would, from index.json down to every layer, checking
each blob against its digest and size, and that the platforms are exactly the ones given.

usage: oci_index.py LAYOUT TAG ARCH... [--annotation KEY=VALUE]...
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


class Refused(Exception):
    """The layout is not what this script makes or expects: one line, naming what is wrong."""


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    if algorithm != "sha256" or len(hex_digest) != 64:
        raise Refused(f"{layout}: unsupported digest {digest}")
    return layout / "blobs" / "sha256" / hex_digest


def read_blob(layout: Path, descriptor: dict) -> bytes:
    """The blob a descriptor points to, checked against its digest and size."""
    data = blob_path(layout, descriptor["digest"]).read_bytes()
    if len(data) != descriptor["size"]:
        raise Refused(f"{layout}: blob {descriptor['digest']} is {len(data)} bytes, not {descriptor['size']}")
    if "sha256:" + hashlib.sha256(data).hexdigest() != descriptor["digest"]:
        raise Refused(f"{layout}: blob {descriptor['digest']} does not match its digest")
    return data


def write_blob(layout: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blob_path(layout, digest).write_bytes(data)
    return digest


def named(index: dict, name: str) -> dict:
    """The descriptor of index.json named `name`."""
    found = [d for d in index["manifests"] if d.get("annotations", {}).get(REF_NAME) == name]
    if len(found) != 1:
        raise Refused(f"index.json names {len(found)} descriptors {name!r}, not one")
    return found[0]


def platform_of(layout: Path, descriptor: dict) -> dict:
    """The platform of the image a manifest descriptor points to, from the image's config."""
    manifest = json.loads(read_blob(layout, descriptor))
    if manifest.get("mediaType", MANIFEST) != MANIFEST:
        raise Refused(f"{layout}: {descriptor['digest']} is a {manifest.get('mediaType')}, not an image manifest")
    config = json.loads(read_blob(layout, manifest["config"]))
    platform = {"architecture": config["architecture"], "os": config["os"]}
    if config.get("variant"):
        platform["variant"] = config["variant"]
    return platform


def join(layout: Path, tag: str, arches: list, annotations: dict) -> None:
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text())
    entries = []
    for arch in arches:
        descriptor = named(index, arch)
        platform = platform_of(layout, descriptor)
        if platform["architecture"] != arch:
            raise Refused(f"{layout}: the image named {arch} is for {platform['architecture']}")
        entries.append(
            {
                "mediaType": descriptor["mediaType"],
                "digest": descriptor["digest"],
                "size": descriptor["size"],
                "platform": platform,
            }
        )
    image_index = {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": entries,
        "annotations": annotations,
    }
    data = json.dumps(image_index, separators=(",", ":"), sort_keys=True).encode()
    digest = write_blob(layout, data)
    # The per-architecture names were only the way in: the layout names the index alone, so
    # that `oci:LAYOUT` without a name means it too.
    kept = [
        d
        for d in index["manifests"]
        if d.get("annotations", {}).get(REF_NAME) not in set(arches) | {tag}
    ]
    kept.append(
        {
            "mediaType": INDEX,
            "digest": digest,
            "size": len(data),
            "annotations": {REF_NAME: tag},
        }
    )
    index["manifests"] = kept
    index_path.write_text(json.dumps(index, separators=(",", ":")))


def check(layout: Path, tag: str, arches: list) -> list:
    """Reads the layout back from index.json to every layer; returns the platforms found."""
    layout_file = json.loads((layout / "oci-layout").read_text())
    if layout_file.get("imageLayoutVersion") != "1.0.0":
        raise Refused(f"{layout}: not an OCI image layout 1.0.0")
    index = json.loads((layout / "index.json").read_text())
    top = named(index, tag)
    if top["mediaType"] != INDEX:
        raise Refused(f"{layout}: {tag} is a {top['mediaType']}, not an image index")
    image_index = json.loads(read_blob(layout, top))
    platforms = []
    for entry in image_index["manifests"]:
        manifest = json.loads(read_blob(layout, entry))
        read_blob(layout, manifest["config"])
        for layer in manifest["layers"]:
            read_blob(layout, layer)
        if platform_of(layout, entry) != entry["platform"]:
            raise Refused(f"{layout}: the index's platform of {entry['digest']} is not its config's")
        platforms.append(entry["platform"])
    found = sorted(p["architecture"] for p in platforms)
    if found != sorted(arches) or any(p["os"] != "linux" for p in platforms):
        raise Refused(f"{layout}: {tag} holds {platforms}, not linux/{', linux/'.join(arches)}")
    return platforms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layout", type=Path)
    parser.add_argument("tag")
    parser.add_argument("arches", nargs="+")
    parser.add_argument("--annotation", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    annotations = {}
    for pair in args.annotation:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            print(f"oci_index.py: --annotation {pair!r} is not KEY=VALUE", file=sys.stderr)
            return 2
        annotations[key] = value
    try:
        join(args.layout, args.tag, args.arches, annotations)
        platforms = check(args.layout, args.tag, args.arches)
    except (Refused, OSError, KeyError, ValueError) as error:
        print(f"oci_index.py: {error}", file=sys.stderr)
        return 1
    shown = ", ".join(f"{p['os']}/{p['architecture']}" for p in platforms)
    print(f"{args.layout}:{args.tag}: an image index of {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
