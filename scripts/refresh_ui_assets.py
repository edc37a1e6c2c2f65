"""Refresh the web UI's vendored front-end assets from the npm registry (not run in CI).

The UI needs no JavaScript build step: it ships a few minified files of pinned npm packages
under ``src/mlwarden/server/ui/static/vendor/``. This script downloads each pinned tarball from
registry.npmjs.org, checks it against the ``dist.integrity`` hash the registry publishes for
that version, copies the listed files into the vendor folder and rewrites ``VERSIONS.json``
(version, integrity and the SHA-256 of every copied file; a test checks those hashes).

    python scripts/refresh_ui_assets.py            # re-fetch the pinned versions
    python scripts/refresh_ui_assets.py --check    # only compare the vendored files with VERSIONS.json

To upgrade, change the version in ``PINNED`` and run the script; review the diff.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "src/mlwarden/server/ui/static/vendor"
MANIFEST = VENDOR / "VERSIONS.json"
REGISTRY = "https://registry.npmjs.org"

#: package -> (version, {file in the tarball: file under vendor/<package>/})
PINNED: dict[str, tuple[str, dict[str, str]]] = {
    "uplot": (
        "1.6.32",
        {
            "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
            "package/dist/uPlot.min.css": "uPlot.min.css",
            "package/LICENSE": "LICENSE",
        },
    ),
}


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as r:  # noqa: S310 - fixed https registry URL
        data: bytes = r.read()
    return data


def _check_integrity(data: bytes, integrity: str) -> None:
    algo, _, expected = integrity.partition("-")
    if algo not in ("sha512", "sha384", "sha256"):
        raise SystemExit(f"Unsupported integrity algorithm {algo!r}.")
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != expected:
        raise SystemExit(f"Integrity mismatch: registry says {integrity}, tarball is {algo}-{got}.")


def refresh(package: str, version: str, files: dict[str, str]) -> dict[str, object]:
    meta = json.loads(_get(f"{REGISTRY}/{package}/{version}"))
    dist = meta["dist"]
    tarball = _get(dist["tarball"])
    _check_integrity(tarball, dist["integrity"])
    out = VENDOR / package
    out.mkdir(parents=True, exist_ok=True)
    hashes: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member, target in files.items():
            f = tar.extractfile(member)
            if f is None:
                raise SystemExit(f"{package}@{version} has no file {member!r}.")
            data = f.read()
            (out / target).write_bytes(data)
            hashes[f"{package}/{target}"] = hashlib.sha256(data).hexdigest()
    return {
        "version": version,
        "tarball": dist["tarball"],
        "integrity": dist["integrity"],
        "sha256": hashes,
    }


def check() -> int:
    manifest = json.loads(MANIFEST.read_text())
    bad = 0
    for package, entry in manifest["packages"].items():
        for path, digest in entry["sha256"].items():
            actual = hashlib.sha256((VENDOR / path).read_bytes()).hexdigest()
            if actual != digest:
                print(f"{package}: {path} differs from VERSIONS.json")
                bad += 1
    print("vendored assets match VERSIONS.json" if not bad else f"{bad} file(s) differ")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--check", action="store_true", help="Only verify the vendored files.")
    args = ap.parse_args()
    if args.check:
        return check()
    packages = {}
    for package, (version, files) in PINNED.items():
        packages[package] = refresh(package, version, files)
        print(f"{package}@{version}: {len(files)} file(s) refreshed, integrity verified")
    MANIFEST.write_text(
        json.dumps({"registry": REGISTRY, "packages": packages}, indent=2, sort_keys=True) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
