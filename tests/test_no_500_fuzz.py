"""Bounded, seeded fuzzing of the write endpoints: bad input is a 4xx envelope, never a 500."""

import json
import random

import pytest

from playbooks.blueprint_loader import blueprints_seed

ITERATIONS = 120
_TOO_DEEP: list = []
for _ in range(120):  # past the parser's depth limit
    _TOO_DEEP = [_TOO_DEEP]
_ATOMS = [
    None,
    True,
    0,
    -1,
    1.5,
    "",
    "x",
    "{{ ''.__class__ }}",
    "{% for %}",
    "tools.a.b",
    "\u0000",
    "\ud800",
    {"k\u0000": 1},
    _TOO_DEEP,
    "é" * 3,
    10**30,
]


def _value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice(_ATOMS)
    if roll < 0.7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [
        "name",
        "steps",
        "tools",
        "id",
        "tool",
        "args",
        "budget",
        "max_risk",
        "inputs",
        "approval_policy",
        "llm",
        "prompt",
        "when",
        rng.choice(["zz", "spec", "_x"]),
    ]
    return {rng.choice(keys): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _spec_like(rng: random.Random) -> dict:
    step = {"id": "a", "tool": "tools.studio.files.read", "args": {"path": "x"}}
    spec = {"name": "fuzz", "steps": [step], "tools": ["tools.studio.files.read"]}
    for _ in range(rng.randint(1, 3)):
        target = rng.choice([spec, step])
        target[rng.choice([*target, "budget", "when", "llm"])] = _value(rng)
    return spec


@pytest.mark.parametrize("seed", range(3))
def test_random_specs_never_answer_500(admin_user, client_for, seed):
    rng = random.Random(seed)
    client = client_for(admin_user)
    blueprints_seed()
    draft = client.post("/api/v1/blueprints/blog-post-writer/fork/", {}, format="json").json()
    statuses = set()
    for _ in range(ITERATIONS // 3):
        body = rng.choice(
            [
                {"spec": _spec_like(rng)},
                {"spec": _value(rng)},
                {"spec_yaml": rng.choice(["", ":", "a: [", "- 1", "name: x\nsteps: 3", "&a [*a]"])},
                _value(rng),
            ]
        )
        raw = json.dumps(body)
        for method, url in (
            ("post", "/api/v1/playbooks/"),
            ("post", f"/api/v1/playbooks/{draft['id']}/validate/"),
            ("patch", f"/api/v1/playbooks/{draft['id']}/"),
            ("post", "/api/v1/playbooks/import/"),
        ):
            response = getattr(client, method)(url, data=raw, content_type="application/json")
            statuses.add(response.status_code)
            assert response.status_code < 500, (url, raw, response.content[:500])
            if response.status_code >= 400:
                assert set(response.json()["error"]) == {"code", "message", "details"}
    assert 400 in statuses
