"""Platform slug -> extractor and importer classes, imported lazily so one broken platform cannot
stop the others. Each platform's folder holds both (`platforms/<slug>/extractor.py`,
`importer.py`) and its sandbox (`sandbox.py`)."""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

from platforms.base import Extractor, ExtractorError

if TYPE_CHECKING:
    from platforms.importer import BaseImporter

EXTRACTORS = {
    "github": "platforms.github.extractor.GitHubExtractor",
    "youtube": "platforms.youtube.extractor.YouTubeExtractor",
    "instagram": "platforms.instagram.extractor.InstagramExtractor",
    "facebook": "platforms.facebook.extractor.FacebookExtractor",
    "twitter": "platforms.twitter.extractor.TwitterExtractor",
    "reddit": "platforms.reddit.extractor.RedditExtractor",
}

# The official archive's importer and the sandbox (DESIGN §4) sit beside each extractor.
IMPORTERS = {slug: path.rsplit(".", 2)[0] + ".importer.Importer" for slug, path in EXTRACTORS.items()}
SANDBOXES = {slug: path.rsplit(".", 2)[0] + ".sandbox" for slug, path in EXTRACTORS.items()}


class UnknownPlatform(KeyError):
    pass


def slugs() -> list[str]:
    return list(EXTRACTORS)


def importer_slugs() -> list[str]:
    return list(IMPORTERS)


def _load(table: dict[str, str], slug: str):
    try:
        dotted = table[slug]
    except KeyError:
        raise UnknownPlatform(slug) from None
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)


@cache
def _extractor_class(slug: str) -> type[Extractor]:
    return _load(EXTRACTORS, slug)


@cache
def _importer_class(slug: str) -> type[BaseImporter]:
    return _load(IMPORTERS, slug)


def get_extractor(slug: str) -> Extractor:
    return _extractor_class(slug)()


def get_importer(slug: str) -> BaseImporter:
    try:
        return _importer_class(slug)()
    except (UnknownPlatform, ImportError, AttributeError):
        raise ExtractorError(f"There is no importer for {slug!r} archives.") from None


def available(slug: str) -> bool:
    """Whether the platform's extractor module is present (platforms land one at a time)."""
    try:
        _extractor_class(slug)
    except (UnknownPlatform, ImportError):
        return False
    return True


def importer_available(slug: str) -> bool:
    try:
        _importer_class(slug)
    except (UnknownPlatform, ImportError, AttributeError):
        return False
    return True
