"""The house (docs/architecture.md): arrows point one way, a platform is one folder."""

import ast
from importlib import import_module
from pathlib import Path

import pytest
from django.conf import settings

from platforms.registry import get_importer, slugs
from tests.conftest import ROOT


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(package: str) -> dict[str, Path]:
    root = ROOT / package
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in root.rglob("*.py")
        if "migrations" not in path.parts
    }


def test_platforms_import_nothing_from_exports_or_accounts():
    upward = {
        name: sorted(i for i in imports_of(path) if i.split(".")[0] in ("exports", "accounts"))
        for name, path in modules("platforms").items()
    }
    assert {name: found for name, found in upward.items() if found} == {}


def test_no_import_cycle_joins_the_exports_modules():
    mods = modules("exports")
    graph = {name: {i for i in imports_of(path) if i in mods and i != name} for name, path in mods.items()}

    def cycle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return path + [start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
        return None

    cycles = [c for c in (cycle_from(m) for m in graph) if c]
    assert cycles == []


@pytest.mark.parametrize("slug", slugs())
def test_a_platform_is_one_folder_and_its_provider_is_installed(slug):
    folder = ROOT / "platforms" / slug
    for part in ("extractor.py", "importer.py", "sandbox.py", "oauth.py"):
        assert (folder / part).exists(), f"platforms/{slug}/{part}"
    wiring = import_module(f"platforms.{slug}.oauth")
    assert wiring.APP in settings.INSTALLED_APPS
    assert settings.PROVIDER_PLATFORM[wiring.PROVIDER] == slug
    assert settings.SOCIALACCOUNT_PROVIDERS[wiring.PROVIDER]["SCOPE"] == wiring.SCOPES
    assert get_importer(slug).slug == slug
    assert wiring.sandbox_urls("http://127.0.0.1:1/x")
