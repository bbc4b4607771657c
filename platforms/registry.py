"""Platform slug -> extractor class, imported lazily so one broken platform cannot stop the others."""

from functools import cache
from importlib import import_module

from platforms.base import Extractor

EXTRACTORS = {
    "github": "platforms.github.extractor.GitHubExtractor",
    "youtube": "platforms.youtube.extractor.YouTubeExtractor",
    "instagram": "platforms.instagram.extractor.InstagramExtractor",
    "facebook": "platforms.facebook.extractor.FacebookExtractor",
    "twitter": "platforms.twitter.extractor.TwitterExtractor",
    "reddit": "platforms.reddit.extractor.RedditExtractor",
}

# Sandbox modules (DESIGN §4), one per platform beside its extractor.
SANDBOXES = {slug: path.rsplit(".", 2)[0] + ".sandbox" for slug, path in EXTRACTORS.items()}


class UnknownPlatform(KeyError):
    pass


def slugs() -> list[str]:
    return list(EXTRACTORS)


@cache
def _extractor_class(slug: str) -> type[Extractor]:
    try:
        dotted = EXTRACTORS[slug]
    except KeyError:
        raise UnknownPlatform(slug) from None
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)


def get_extractor(slug: str) -> Extractor:
    return _extractor_class(slug)()


def available(slug: str) -> bool:
    """Whether the platform's extractor module is present (platforms land one at a time)."""
    try:
        _extractor_class(slug)
    except (UnknownPlatform, ImportError):
        return False
    return True
