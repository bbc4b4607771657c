"""docs/api.md's curl examples, run in order against a real server, worker and sandbox."""

import re
import subprocess
import uuid

import pytest

from api.models import WebhookEndpoint
from api.tokens import api_token_create
from exports.models import ExportJob
from tests.conftest import ROOT, verify_archive
from tests.fixtures.archives import x_archive_members, zip_bytes

pytestmark = pytest.mark.pipeline


def shell_examples() -> list[str]:
    text = (ROOT / "docs" / "api.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    # The first block only says which two variables to set; the test sets them itself.
    assert "export TOKEN=" in blocks[0]
    return blocks[1:]


def test_the_curl_examples_in_the_api_docs_work(live, live_server, make_user, connect, tmp_path):
    user = make_user("docs")
    connect(user, "github")
    _, token = api_token_create(owner=user, scopes=["read", "export"])
    connect(user, "twitter")
    hook = f"{live}/_hooks/docs-{uuid.uuid4().hex[:8]}"
    (tmp_path / "twitter.zip").write_bytes(zip_bytes(x_archive_members(media=False)))
    script = "set -euo pipefail\n" + "\n".join(shell_examples())
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "STAREXPORT": live_server.url, "TOKEN": token, "HOOK_URL": hook},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    job = ExportJob.objects.get(owner=user, source=ExportJob.Source.API)
    assert job.status == ExportJob.Status.SUCCEEDED and job.formats == ["json", "csv"]
    verify_archive(tmp_path / "export.zip", "github", "--csv")
    assert '"items"' in result.stdout  # the library search answered
    assert '"secret": "whsec_' in result.stdout
    assert WebhookEndpoint.objects.get(owner=user).url == hook
    imported = ExportJob.objects.get(owner=user, source=ExportJob.Source.ARCHIVE)
    assert imported.platform_id == "twitter" and f'"id": "{imported.id}"' in result.stdout
