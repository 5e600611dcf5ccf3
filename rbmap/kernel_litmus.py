"""The kernel's own memory-model litmus tests, fetched from Debian's linux-source
package (never copied into this repository).

Two sets: ``tools/memory-model/litmus-tests`` (LKMM's own tests) and
``Documentation/litmus-tests`` (atomic, locking and RCU API tests), each file
stating its expected ``Result:``.

``fetch()`` downloads ``linux-source-6.12`` (the version rbmap targets,
6.12.117-1~deb12u1, or, when the mirror no longer has it, the newest
linux-source-6.12 it offers; the version used is recorded) with ``apt-get
download``, streams ``tools/memory-model/`` out of the source tarball into a cache
directory (``~/.cache/rbmap/linux-source``, or ``$RBMAP_LINUX_SOURCE_CACHE``) and
deletes the 150 MB package.  Nothing is installed.  When the host's apt sources do
not carry bookworm-security, a private sources list in the cache is used for the
look-up and the download only (as ``rbmap kernel setup`` does).

``run(directory)`` checks every ``*.litmus`` file against the ``Result:`` its
comment states.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .kernel import KernelError, _apt_options, _run

PACKAGE = "linux-source-6.12"
VERSION = "6.12.117-1~deb12u1"
TARBALL = "./usr/src/linux-source-6.12.tar.xz"
MEMORY_MODEL = "linux-source-6.12/tools/memory-model"
DOC_TESTS = "linux-source-6.12/Documentation/litmus-tests"


def cache_dir() -> Path:
    env = os.environ.get("RBMAP_LINUX_SOURCE_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "rbmap" / "linux-source"


def cached(cache: Path | None = None) -> tuple[Path, dict] | None:
    """(tools/memory-model directory, what was fetched) when already in the cache."""
    cache = cache or cache_dir()
    try:
        info = json.loads((cache / "source.json").read_text())
    except (OSError, ValueError):
        return None
    d = cache / info.get("dir", "")
    if not (d / "litmus-tests").is_dir() or not (cache / info.get("doc_dir", "-")).is_dir():
        return None
    return d, info


def test_files(directory: Path, info: dict, cache: Path | None = None) -> list[Path]:
    """Every kernel litmus test: tools/memory-model/litmus-tests/*.litmus, then
    Documentation/litmus-tests/*/*.litmus."""
    cache = cache or cache_dir()
    doc = cache / info["doc_dir"]
    return sorted((directory / "litmus-tests").glob("*.litmus")) + \
        sorted(doc.glob("*/*.litmus"))


def fetch(log=print, cache: Path | None = None) -> tuple[Path, dict]:
    """The kernel's tools/memory-model directory (with litmus-tests/), fetching it
    once.  Raises KernelError (with the reason) when the package cannot be had."""
    cache = cache or cache_dir()
    hit = cached(cache)
    if hit:
        return hit
    for tool in ("apt-get", "dpkg-deb", "tar", "xz"):
        if shutil.which(tool) is None:
            raise KernelError(f"{tool} not found: a Debian host with apt is needed to "
                              f"fetch {PACKAGE}")
    cache.mkdir(parents=True, exist_ok=True)
    debs = cache / "debs"
    debs.mkdir(exist_ok=True)
    deb, version = _download(debs, cache, log)
    dest = cache / version
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    log(f"extracting tools/memory-model from {deb.name}")
    dpkg = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                            stdout=subprocess.PIPE)
    outer = subprocess.Popen(["tar", "-xO", TARBALL], stdin=dpkg.stdout,
                             stdout=subprocess.PIPE)
    dpkg.stdout.close()
    try:
        _run(["tar", "-xJ", "-C", str(dest), MEMORY_MODEL, DOC_TESTS],
             "unpacking tools/memory-model", stdin=outer.stdout)
    finally:
        outer.stdout.close()
        outer.wait()
        dpkg.wait()
    deb.unlink()
    info = {"package": PACKAGE, "version": version, "dir": f"{version}/{MEMORY_MODEL}",
            "doc_dir": f"{version}/{DOC_TESTS}"}
    (cache / "source.json").write_text(json.dumps(info, indent=1) + "\n")
    hit = cached(cache)
    if not hit:
        raise KernelError(f"{PACKAGE} {version} has no tools/memory-model/litmus-tests "
                          "or Documentation/litmus-tests")
    return hit


def _download(debs: Path, cache: Path, log) -> tuple[Path, str]:
    attempts = [[]]
    errors = []
    for opts in attempts + [None]:
        if opts is None:
            log("the host's apt sources do not have it: using a private "
                "bookworm-security list in " + str(cache / "apt"))
            opts = _apt_options(cache, True)
            try:
                _run(["apt-get", *opts, "update", "-q"], "apt-get update (bookworm-security)")
            except KernelError as exc:
                errors.append(str(exc))
                break
        for spec in (f"{PACKAGE}={VERSION}", PACKAGE):
            for old in debs.glob("*.deb"):
                old.unlink()
            log(f"downloading {spec}")
            try:
                _run(["apt-get", *opts, "download", "-q", spec], "apt-get download",
                     cwd=debs)
            except KernelError as exc:
                errors.append(str(exc))
                continue
            found = sorted(debs.glob(f"{PACKAGE}_*.deb"))
            if found:
                version = _run(["dpkg-deb", "-f", str(found[-1]), "Version"],
                               "dpkg-deb -f").stdout.strip()
                return found[-1], version
    raise KernelError(f"cannot download {PACKAGE}: " + (errors[-1] if errors else "?"))

