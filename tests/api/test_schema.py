"""schemathesis against the API's own OpenAPI schema: generated requests, valid and not, with a
real token; no answer may be a 500 or stray from the schema."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import InferenceAlgorithm

from api.models import ApiToken
from api.tokens import token_hash
from exports import jobs
from starexport.wsgi import application

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def connection_kept(db):
    # As Django's test client does: the app must not close the test's connection (and with it
    # the transaction that holds the test's rows) at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


TOKEN = "se_schemathesis-" + "x" * 30


@pytest.fixture(autouse=True)
def user(make_user, platforms, connect):
    user = make_user("fuzz")
    connect(user, "github")
    # Something to find: a job of the user's, so the job addresses are not all 404s.
    jobs.export_job_create(owner=user, platform_slug="github", enqueue=False)
    ApiToken.objects.create(
        owner=user, name="fuzz", prefix=TOKEN[:10], token_hash=token_hash(TOKEN), scopes=["read", "export"]
    )
    return user


@pytest.fixture(autouse=True)
def generous_rate(settings):
    settings.STAREXPORT = {**settings.STAREXPORT, "API_RATE": "100000/m", "CREATE_RATE": "100000/h"}


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
schema.config.update(headers={"Authorization": f"Bearer {TOKEN}"})
# Unknown query parameters are ignored, as most HTTP APIs do.
schema.config.generation.update(allow_extra_parameters=False)
# Left out: "a schema-valid request is accepted". A well-formed export of a platform the user has
# not connected, or with its dates the wrong way round, is rightly refused with 400.
schema.config.checks.update(excluded_check_names=["positive_data_acceptance"])


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_schema(case):
    case.call_and_validate()


# Stateful: created exports, imports and webhooks are followed through the schema's links (status,
# cancel, retry, archive; pieces and finish; deliveries and delete).
# Only those links: schemathesis' own guesses would also send a just-created export to its
# archive, which is rightly a 404 until the export succeeds.
schema.config.phases.stateful.inference.algorithms = [InferenceAlgorithm.LOCATION_HEADERS]
APIWorkflow = schema.as_state_machine()


@pytest.mark.usefixtures("connection_kept", "user", "generous_rate")
class TestWorkflows(APIWorkflow.TestCase):
    settings = settings(max_examples=15, stateful_step_count=6, deadline=None, derandomize=True,
                        suppress_health_check=list(HealthCheck))  # fmt: skip
