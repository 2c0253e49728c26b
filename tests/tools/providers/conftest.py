"""Each provider test runs against both local servers (OpenAI and Anthropic dialects)."""

import pytest

from tests.engine import tools_for_tests  # noqa: F401  (registers tools.test.*)
from tests.support.model_servers import ANTHROPIC, OPENAI, model_server


@pytest.fixture(params=[OPENAI, ANTHROPIC])
def server(request):
    with model_server(request.param) as local:
        yield local
