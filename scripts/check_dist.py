"""Check the built wheel and sdist of agency-call-analytics before anyone installs them.

setuptools leaves out whatever ``package-data`` does not name, silently: a missing
template or migration only shows up as a broken host project. This compares the
archives with the checkout they were built from.

Usage: ``python scripts/check_dist.py DIST_DIR``. Prints one line per problem to
stderr and exits 1, or prints a short summary.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Callable, Iterable
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

CHECKOUT = Path(__file__).resolve().parent.parent
PACKAGE = "analytics"
#: The distribution name as wheel and sdist file names spell it (PEP 427, PEP 625).
DIST_PREFIX = "agency_call_analytics-"
#: Checkout folders none of whose files may be installed, at any depth.
FORBIDDEN = {"tests", "bench", "heatmap_project", "scripts", "docs"}
LICENSE_EXPRESSION = "LicenseRef-Proprietary"


def checkout_files(folder: str) -> list[str]:
    """Every file under ``folder`` of the checkout, as archive paths; none if it is missing."""
    root = CHECKOUT / folder
    if not root.is_dir():
        return []
    return sorted(
        path.relative_to(CHECKOUT).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def checkout_globbed(pattern: str) -> list[str]:
    """Checkout files matching ``pattern`` (relative to the checkout), as archive paths."""
    return sorted(path.relative_to(CHECKOUT).as_posix() for path in CHECKOUT.glob(pattern))


def package_version() -> str:
    """``analytics.__version__``, parsed rather than imported: importing would need Django."""
    tree = ast.parse((CHECKOUT / PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == "__version__" for target in targets):
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
            raise SystemExit("check_dist: analytics.__version__ is not a string literal")
    raise SystemExit("check_dist: analytics/__init__.py does not set __version__")


def project_license() -> str:
    """``project.license`` from pyproject.toml, which must be the SPDX string of PEP 639."""
    with (CHECKOUT / "pyproject.toml").open("rb") as file:
        value = tomllib.load(file).get("project", {}).get("license")
    if value != LICENSE_EXPRESSION:
        raise SystemExit(
            f"check_dist: pyproject.toml project.license is {value!r}, "
            f"expected {LICENSE_EXPRESSION!r}"
        )
    return LICENSE_EXPRESSION


def find_one(dist: Path, suffix: str, problems: list[str]) -> Path | None:
    """The single archive of this distribution with ``suffix``; several would be ambiguous."""
    found = sorted(dist.glob(f"{DIST_PREFIX}*{suffix}"))
    if len(found) != 1:
        names = ", ".join(path.name for path in found) or "none"
        problems.append(f"expected exactly one {DIST_PREFIX}*{suffix} in {dist}, found {names}")
        return None
    return found[0]


def missing(required: Iterable[str], present: set[str], where: str) -> list[str]:
    return [f"{where} lacks {name}" for name in required if name not in present]


def check_wheel(wheel: Path, version: str, license_expression: str) -> tuple[list[str], int]:
    """Problems with the wheel, and how many files it holds."""
    where = f"wheel {wheel.name}"
    with zipfile.ZipFile(wheel) as archive:
        names = {name for name in archive.namelist() if not name.endswith("/")}
        infos = {name.split("/", 1)[0] for name in names if ".dist-info/" in name}
        if len(infos) != 1:
            return [f"{where}: expected one .dist-info folder, found {sorted(infos)}"], len(names)
        info = infos.pop()
        metadata = read_member(archive.read, names, f"{info}/METADATA")
        license_file = read_member(archive.read, names, f"{info}/licenses/LICENSE")

    required = [
        f"{PACKAGE}/__init__.py",
        f"{PACKAGE}/py.typed",
        f"{PACKAGE}/sql/reference_schema.sql",
        *checkout_globbed(f"{PACKAGE}/sql/rollup/*.sql"),
        *checkout_files(f"{PACKAGE}/templates"),
        *checkout_files(f"{PACKAGE}/static"),
        *checkout_globbed(f"{PACKAGE}/migrations/*.py"),
        f"{PACKAGE}/management/__init__.py",
        *checkout_globbed(f"{PACKAGE}/management/commands/*.py"),
    ]
    problems = missing(required, names, where)
    for name in sorted(names):
        parts = PurePosixPath(name).parts
        if parts[0] not in {PACKAGE, info} or FORBIDDEN & set(parts) or name.endswith(".pyc"):
            problems.append(f"{where} must not ship {name}")

    if metadata is None:
        problems.append(f"{where} lacks {info}/METADATA")
    else:
        problems += check_metadata(metadata, f"{where} METADATA", version, license_expression)
    if license_file is None:
        problems.append(f"{where} lacks {info}/licenses/LICENSE")
    elif license_file != (CHECKOUT / "LICENSE").read_bytes():
        problems.append(f"{where}: {info}/licenses/LICENSE differs from the checkout's LICENSE")
    return problems, len(names)


def check_sdist(sdist: Path, version: str, license_expression: str) -> tuple[list[str], int]:
    """Problems with the sdist, and how many files it holds: it must rebuild the same wheel."""
    where = f"sdist {sdist.name}"
    root = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as archive:
        members = {member.name: member for member in archive.getmembers() if member.isfile()}
        inside = {name for name in members if name.startswith(f"{root}/")}
        names = {name.removeprefix(f"{root}/") for name in inside}

        def read(name: str) -> bytes:
            file = archive.extractfile(members[f"{root}/{name}"])
            assert file is not None  # a regular file
            return file.read()

        pkg_info = read_member(read, names, "PKG-INFO")

    problems = [f"{where}: {name} is outside {root}/" for name in members if name not in inside]
    required = [
        "LICENSE",
        "README.md",
        "pyproject.toml",
        f"{PACKAGE}/__init__.py",
        f"{PACKAGE}/py.typed",
        f"{PACKAGE}/sql/reference_schema.sql",
        *checkout_globbed(f"{PACKAGE}/sql/rollup/*.sql"),
        *checkout_files(f"{PACKAGE}/templates"),
        *checkout_files(f"{PACKAGE}/static"),
    ]
    problems += missing(required, names, where)
    if pkg_info is None:
        problems.append(f"{where} lacks PKG-INFO")
    else:
        problems += check_metadata(pkg_info, f"{where} PKG-INFO", version, license_expression)
    return problems, len(names)


def read_member(read: Callable[[str], bytes], names: set[str], name: str) -> bytes | None:
    return read(name) if name in names else None


def check_metadata(raw: bytes, where: str, version: str, license_expression: str) -> list[str]:
    """Core metadata (METADATA or PKG-INFO): the version, the SPDX licence and its file."""
    metadata = HeaderParser().parsestr(raw.decode("utf-8"))
    problems: list[str] = []
    if metadata.get("Version") != version:
        problems.append(
            f"{where}: Version is {metadata.get('Version')!r}, analytics.__version__ is {version!r}"
        )
    if metadata.get("License-Expression") != license_expression:
        problems.append(
            f"{where}: License-Expression is {metadata.get('License-Expression')!r}, "
            f"pyproject.toml says {license_expression!r}"
        )
    if "LICENSE" not in (metadata.get_all("License-File") or []):
        problems.append(f"{where}: no 'License-File: LICENSE'")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the wheel and sdist python -m build made.")
    parser.add_argument("dist", type=Path, help="the folder python -m build wrote into")
    dist: Path = parser.parse_args(argv).dist.resolve()
    if not dist.is_dir():
        print(f"check_dist: {dist} is not a directory", file=sys.stderr)
        return 1
    version = package_version()
    license_expression = project_license()
    if not checkout_files(f"{PACKAGE}/templates"):
        print(
            f"check_dist: {CHECKOUT} has no {PACKAGE}/templates: not the checkout?", file=sys.stderr
        )
        return 1

    problems: list[str] = []
    wheel = find_one(dist, ".whl", problems)
    sdist = find_one(dist, ".tar.gz", problems)
    counts: dict[str, int] = {}
    for archive, check in ((wheel, check_wheel), (sdist, check_sdist)):
        if archive is not None:
            found, counts[archive.name] = check(archive, version, license_expression)
            problems += found
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if problems or wheel is None or sdist is None:
        return 1

    templates = len(checkout_files(f"{PACKAGE}/templates"))
    migrations = len(checkout_globbed(f"{PACKAGE}/migrations/0*.py"))
    commands = len(checkout_globbed(f"{PACKAGE}/management/commands/[!_]*.py"))
    print(
        f"check_dist: agency-call-analytics {version} OK: {wheel.name} "
        f"({counts[wheel.name]} files: {templates} templates, {migrations} migrations, "
        f"{commands} commands), {sdist.name} ({counts[sdist.name]} files)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
