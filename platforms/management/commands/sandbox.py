import argparse
import os
import signal

from django.core.management.base import BaseCommand

from platforms.sandbox.core import Sandbox, SandboxConfig, SandboxServer


def _env(name, cast, default):
    value = os.environ.get(f"STAREXPORT_SANDBOX_{name}")
    return cast(value) if value not in (None, "") else default


def app_limit(value: str) -> tuple[str, list]:
    """`reddit=100/60` -> ("reddit", [100, 60])."""
    try:
        slug, _, rate = value.partition("=")
        count, _, seconds = rate.partition("/")
        return slug.strip(), [int(count), float(seconds)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected SLUG=N/SECONDS, got {value!r}") from exc


class Command(BaseCommand):
    help = "Serve every platform's API, OAuth and media host on 127.0.0.1 (DESIGN §4), in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=_env("PORT", int, 8765))
        parser.add_argument("--latency-ms", type=int, default=_env("LATENCY_MS", int, 0))
        parser.add_argument("--records", type=int, default=_env("RECORDS", int, 60), help="Records per resource.")
        parser.add_argument("--page-size", type=int, default=_env("PAGE_SIZE", int, None))
        parser.add_argument("--fault-429-every", type=int, default=_env("FAULT_429_EVERY", int, 0))
        parser.add_argument("--fault-5xx-rate", type=float, default=_env("FAULT_5XX_RATE", float, 0.0))
        parser.add_argument("--truncate-rate", type=float, default=_env("TRUNCATE_RATE", float, 0.0))
        parser.add_argument("--slow-body-ms", type=int, default=_env("SLOW_BODY_MS", int, 0))
        parser.add_argument("--media-bytes", type=int, default=_env("MEDIA_BYTES", int, 0))
        parser.add_argument(
            "--app-limit",
            action="append",
            type=app_limit,
            default=[app_limit(v) for v in _env("APP_LIMIT", str, "").split(",") if v],
            metavar="SLUG=N/SECONDS",
            help="At most N API requests (media aside) in any SECONDS for the platform's app; 429 past it.",
        )
        parser.add_argument("--youtube-daily-units", type=int, default=_env("YOUTUBE_DAILY_UNITS", int, 0))
        parser.add_argument(
            "--youtube-day-seconds",
            type=int,
            default=_env("YOUTUBE_DAY_SECONDS", int, 0),
            help="Length of YouTube's quota day (tests); 0 is the real day, reset at midnight Pacific.",
        )

    def handle(self, *args, **options):
        config = SandboxConfig(
            host="127.0.0.1",
            port=options["port"],
            latency_ms=options["latency_ms"],
            records=options["records"],
            page_size=options["page_size"],
            fault_429_every=options["fault_429_every"],
            fault_5xx_rate=options["fault_5xx_rate"],
            truncate_rate=options["truncate_rate"],
            slow_body_ms=options["slow_body_ms"],
            media_bytes=options["media_bytes"],
            app_limits=dict(options["app_limit"] or []),
            youtube_daily_units=options["youtube_daily_units"],
            youtube_day_seconds=options["youtube_day_seconds"],
        )
        server = SandboxServer(Sandbox(config))
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        platforms = ", ".join(sorted(server.sandbox.platforms))
        self.stdout.write(f"Sandbox at {server.base_url} serving {platforms}", ending="\n")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
