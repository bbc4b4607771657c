"""`manage.py export` as checks outside the project run it (DESIGN §5)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, seed_platforms, verify_archive, worker_env


@pytest.fixture
def run(transactional_db, sandbox_process, make_user, connect):
    seed_platforms()
    user = make_user("cli")
    connect(user, "github")
    env = worker_env(sandbox_process)

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )

    return manage


def test_an_export_prints_progress_on_stderr_and_the_archive_path_last(run):
    result = run("export", "--user", "cli", "--platform", "github", "--format", "json,csv")
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip().splitlines()[-1]
    verify_archive(path, "github", "--csv")
    # stderr is progress only: no warnings, no log lines.
    assert all(re.fullmatch(r"\[\s*\d+%\] .+", line) for line in result.stderr.strip().splitlines()), result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody", "--platform", "github"], "No user named 'nobody'"),
        (["--user", "cli", "--platform", "myspace"], "Unknown platform 'myspace'"),
        (["--user", "cli", "--platform", "reddit"], "no connected Reddit account"),
        (["--user", "cli", "--platform", "github", "--format", "json,xml"], "Unknown format xml"),
        (["--user", "cli"], "the following arguments are required: --platform"),
    ],
)
def test_bad_arguments_give_one_clear_line_and_exit_2(run, args, message):
    result = run("export", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
    if "--platform" in args:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_media_where_the_platform_has_none_exits_2(run, platforms):
    github = platforms["github"]
    github.supports_media = False
    github.save()
    result = run("export", "--user", "cli", "--platform", "github", "--media")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["CommandError: GitHub has no media files to export."]


def test_a_failed_export_exits_1_with_the_reason(run, connect, make_user):
    user = make_user("revoked")
    connect(user, "github", token="not-a-token-the-platform-knows")
    result = run("export", "--user", "revoked", "--platform", "github")
    assert result.returncode == 1
    assert "Reconnect your GitHub account" in result.stderr
