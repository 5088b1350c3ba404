"""requirements/*.in declare exactly what Orion Ops uses; requirements/*.txt pin exactly their tree.

Offline, without a resolver: what the code uses is read from its source (imports,
dotted paths in the settings, the modules and programs it runs), and the tree from
the metadata of the installed packages, which ./scripts/test installs from
requirements/dev.txt before pytest starts. After editing an .in file, run
./scripts/compile-requirements.
"""

import ast
import functools
import importlib.metadata
import importlib.util
import os
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import pytest
from django.conf import settings
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
# Files only the tests, benchmarks and tooling run: they may use requirements/dev.in too.
DEV_ONLY = ("tests/", "bench/", "scripts/test", "scripts/compile-requirements", "pyproject.toml")
# Declared packages the code uses without importing or running them by name, and the line that uses each.
USED_WITHOUT_IMPORT = {
    "pytest-django": ("pyproject.toml", 'DJANGO_SETTINGS_MODULE = "orion_ops.settings"'),
    "pytest-timeout": ("pyproject.toml", "--timeout="),
    "pytest-playwright": ("tests/web/conftest.py", "def browser_type_launch_args(browser_type_launch_args)"),
}
# Comes with every virtualenv and installs the rest (scripts/lib.sh).
INSTALLER = "pip"
INTERPRETERS = {"python", "python3"}


class Use(NamedTuple):
    name: str  # a top-level module, or a program in the virtualenv's bin/
    path: str  # where it is used, relative to the repository
    program: bool = False

    @property
    def runtime(self) -> bool:
        return not self.path.startswith(DEV_ONLY)


def source_files(under: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The repository's files, without the virtualenv, caches and runtime data."""
    found = []
    for folder, dirs, files in os.walk(under):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("var", "__pycache__", "test-artifacts")]
        found += [Path(folder, name) for name in files if name.endswith(suffixes)]
    return found


def python_uses(path: Path) -> list[Use]:
    where = str(path.relative_to(ROOT))
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=where)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if function in ("import_module", "find_spec") and isinstance(node.args[0].value, str):
                names.append(node.args[0].value)
        elif isinstance(node, ast.List | ast.Tuple):  # subprocess arguments: [sys.executable, "-m", "gunicorn", ...]
            for python, flag, module in zip(node.elts, node.elts[1:], node.elts[2:], strict=False):
                if is_interpreter(python) and constant(flag) == "-m" and isinstance(constant(module), str):
                    names.append(module.value)
    return [Use(name.split(".")[0], where) for name in names]


def constant(node: ast.expr):
    return node.value if isinstance(node, ast.Constant) else None


def is_interpreter(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "executable"  # sys.executable
    name = node.id if isinstance(node, ast.Name) else constant(node)
    return isinstance(name, str) and "python" in name


def command_uses(path: Path) -> list[Use]:
    """Modules and programs that shell scripts, images and manifests run."""
    where, text = str(path.relative_to(ROOT)), path.read_text()
    modules = re.findall(r'(?:\$PY"|python3?) -m ([A-Za-z_][\w.]*)', text)
    if path.name == "pyproject.toml":
        modules += re.findall(r"(?<!\S)-p ([A-Za-z_][\w.]*)", text)  # pytest plugins in addopts
    uses = [Use(module.split(".")[0], where) for module in modules]
    uses += [
        Use(program, where, program=True)
        for program in re.findall(r'\$VENV/bin/([\w.-]+)"', text)
        if program not in INTERPRETERS
    ]
    uses += [Use(program, where, program=True) for program in re.findall(r'(?:CMD|command:) *\["([\w.-]+)"', text)]
    return uses


def settings_uses() -> list[Use]:
    """Apps, middleware, backends and classes the settings name by dotted path."""
    found: list[str] = []

    def walk(value):
        if isinstance(value, str) and re.fullmatch(r"[A-Za-z_]\w*(\.\w+)+", value):
            found.append(value.split(".")[0])
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                walk(item)

    for name in dir(settings):
        if name.isupper():
            walk(getattr(settings, name))
    found += [app.split(".")[0] for app in settings.INSTALLED_APPS]
    return [Use(name, "orion_ops/settings.py") for name in found if importlib.util.find_spec(name) is not None]


def project_modules() -> set[str]:
    return {path.name for path in ROOT.iterdir() if path.is_dir()} | {path.stem for path in ROOT.glob("*.py")}


@functools.cache
def all_uses() -> list[Use]:
    uses = [use for path in source_files(ROOT, (".py",)) for use in python_uses(path)]
    commands = [ROOT / "Dockerfile", ROOT / "docker-compose.yml", ROOT / "pyproject.toml"]
    commands += [path for path in (ROOT / "scripts").iterdir() if path.is_file()]
    commands += source_files(ROOT / "deploy", (".yaml", ".yml"))
    uses += [use for path in commands for use in command_uses(path)]
    uses += settings_uses()
    local = project_modules() | set(sys.stdlib_module_names)
    return [use for use in uses if use.program or not (use.name in local | {INSTALLER} or sibling_module(use))]


def sibling_module(use: Use) -> bool:
    """A module next to the script that imports it, in a folder of scripts (not a package): the script's
    own folder is first on its ``sys.path`` (``import common`` in bench/reads.py is bench/common.py)."""
    path = ROOT / use.path
    sibling = path.with_name(f"{use.name}.py")
    return sibling != path and sibling.is_file() and not (path.parent / "__init__.py").exists()


def programs() -> dict[str, str]:
    """Program name in the virtualenv's bin/ → the distribution that installs it."""
    found = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or []:
            if file.parts[0] == ".." and len(file.parts) > 1 and file.parts[-2] == "bin":
                found[file.parts[-1]] = canonicalize_name(dist.metadata["Name"])
    return found


def providers(use: Use, modules: dict[str, list[str]], bins: dict[str, str]) -> set[str]:
    if use.program:
        return {bins[use.name]} if use.name in bins else set()
    return {canonicalize_name(dist) for dist in modules.get(use.name, [])}


class Declared(NamedTuple):
    requirements: list[tuple[Requirement, str]]  # with the "-r FILE" that declares each
    constraints: list[Path]


def read_in(path: Path) -> Declared:
    requirements, constraints = [], []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            included = read_in(path.parent / line[3:].strip())
            requirements += included.requirements
            constraints += included.constraints
        elif line.startswith("-c "):
            constraints.append(path.parent / line[3:].strip())
        elif line:
            requirements.append((Requirement(line), f"-r {path.relative_to(ROOT)}"))
    return Declared(requirements, constraints)


def declared_names(name: str) -> set[str]:
    return {canonicalize_name(req.name) for req, _ in read_in(REQUIREMENTS / f"{name}.in").requirements}


class Pin(NamedTuple):
    version: str
    via: frozenset[str]


def read_txt(path: Path) -> dict[str, Pin]:
    """``name==version`` lines and the ``# via`` annotations pip-compile writes under each."""
    pins: dict[str, tuple[str, set[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9][\w.-]*)==(\S+)", line):
            current = canonicalize_name(match[1])
            assert current not in pins, f"{path.name}: {current} is pinned twice"
            pins[current] = (match[2], set())
        elif current and (match := re.fullmatch(r" {4}# (?:via|  )\s*(.*)", line)):
            if match[1]:
                pins[current][1].add(match[1])
        elif line.strip() and not line.startswith("#"):
            pytest.fail(f"{path.name}: unexpected line {line!r}; regenerate it with ./scripts/compile-requirements")
    return {name: Pin(version, frozenset(via)) for name, (version, via) in pins.items()}


def dependency_tree(declared: Declared) -> tuple[dict[str, set[str]], list[tuple[Requirement, str]]]:
    """Each distribution the requirements pull in → what requires it (a package or "-r FILE"),
    from the installed metadata; and every requirement edge, to check pins against."""
    via: dict[str, set[str]] = defaultdict(set)
    edges: list[tuple[Requirement, str]] = []
    expanded: set[tuple[str, str]] = set()
    pending = [(req, parent) for req, parent in declared.requirements if not req.marker or req.marker.evaluate()]
    while pending:
        req, parent = pending.pop()
        name = canonicalize_name(req.name)
        via[name].add(parent)
        edges.append((req, parent))
        for extra in {"", *req.extras}:
            if (name, extra) in expanded:
                continue
            expanded.add((name, extra))
            try:
                specs = importlib.metadata.requires(name) or []
            except importlib.metadata.PackageNotFoundError:
                pytest.fail(f"{name} is not installed: run ./scripts/test, which installs requirements/dev.txt")
            for spec in specs:
                child = Requirement(spec)
                if child.marker is None or child.marker.evaluate({"extra": extra}):
                    pending.append((child, name))
    return via, edges


def test_every_module_the_code_uses_is_declared():
    runtime, dev = declared_names("base"), declared_names("base") | declared_names("dev")
    modules, bins = importlib.metadata.packages_distributions(), programs()
    problems = set()
    for use in all_uses():
        found = providers(use, modules, bins)
        if not found:
            if use.program and not use.path.startswith("scripts/"):
                continue  # python, sh and the like, in an image or a manifest; scripts/ run $VENV/bin/ only
            problems.add(f"{use.path}: {use.name} comes from no installed package")
        elif not found & (runtime if use.runtime else dev):
            wanted = "requirements/base.in" if use.runtime else "requirements/dev.in"
            problems.add(f"{use.path}: {use.name} comes from {', '.join(sorted(found))}, not declared in {wanted}")
    assert not problems, "\n".join(sorted(problems))


@pytest.mark.parametrize("name", ["base", "dev"])
def test_every_declared_package_is_used(name):
    uses = all_uses()
    if name == "base":
        uses = [use for use in uses if use.runtime]
    modules, bins = importlib.metadata.packages_distributions(), programs()
    used = {dist for use in uses for dist in providers(use, modules, bins)}
    for dist, (path, line) in USED_WITHOUT_IMPORT.items():
        assert line in (ROOT / path).read_text(), f"{dist} is declared for {line!r} in {path}, which is gone"
        used.add(dist)
    unused = declared_names(name) - used
    assert not unused, f"declared in requirements/{name}.in, but nothing imports or runs: {', '.join(sorted(unused))}"


@pytest.mark.parametrize("name", ["base", "dev"])
def test_compiled_file_pins_exactly_the_tree_of_its_in_file(name):
    declared = read_in(REQUIREMENTS / f"{name}.in")
    pins = read_txt(REQUIREMENTS / f"{name}.txt")
    via, edges = dependency_tree(declared)
    for constraints in declared.constraints:
        label = f"-c {constraints.relative_to(ROOT)}"
        for pinned in read_txt(constraints).keys() & via.keys():
            via[pinned].add(label)

    assert sorted(pins) == sorted(via), (
        f"requirements/{name}.txt is stale: run ./scripts/compile-requirements "
        f"(pinned, not required: {sorted(pins.keys() - via.keys())}; required, not pinned: "
        f"{sorted(via.keys() - pins.keys())})"
    )
    stale_via = {dist: (sorted(pins[dist].via), sorted(via[dist])) for dist in pins if pins[dist].via != via[dist]}
    assert not stale_via, f"# via annotations that no longer say why (written, actual): {stale_via}"
    not_installed = {
        dist: (pin.version, importlib.metadata.version(dist))
        for dist, pin in pins.items()
        if importlib.metadata.version(dist) != pin.version
    }
    assert not not_installed, f"pinned and installed versions differ; run ./scripts/test: {not_installed}"
    refused = [
        f"{parent} needs {req}, pinned {pins[canonicalize_name(req.name)].version}"
        for req, parent in edges
        if not req.specifier.contains(pins[canonicalize_name(req.name)].version, prereleases=True)
    ]
    assert not refused, "\n".join(refused)


def test_dev_pins_agree_with_base_pins():
    base, dev = read_txt(REQUIREMENTS / "base.txt"), read_txt(REQUIREMENTS / "dev.txt")
    assert base.keys() <= dev.keys(), f"dev.txt lacks {sorted(base.keys() - dev.keys())}"
    differ = {dist: (pin.version, dev[dist].version) for dist, pin in base.items() if dev[dist].version != pin.version}
    assert not differ, f"base.txt and dev.txt pin different versions: {differ}"
