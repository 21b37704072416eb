"""A consumer polling the real server while the committee activates version after version sees
the parameters in force only move forward, and every answer whole: one version's content, never
a mix of an old and a new one."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from governance.parameters import services
from governance.parameters.models import ParameterVersion
from tests.api.live import token_for
from tests.parameters.conftest import approve_all, contract_text, edit
from tests.parameters.factories import UserFactory

# BTCUSDT's tier 2 maintenance rate in each successive version: tightenings within the step bound
RATES = ["0.0055", "0.006", "0.0065"]


class Poller(threading.Thread):
    """GETs one contract's parameters and the contract list in turn, as fast as the server answers."""

    def __init__(self, base: str, token: str):
        super().__init__(daemon=True)
        self.base, self.stop = base, threading.Event()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.details: list[dict] = []
        self.listed: list[int] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            for path, record in (("/api/v1/contracts/BTCUSDT/", self.details.append),
                                 ("/api/v1/contracts/", self._listed)):
                response = self.session.get(self.base + path, timeout=30)
                if response.status_code != 200:
                    self.failures.append(f"{path}: {response.status_code} {response.text[:200]}")
                    return
                record(response.json())

    def _listed(self, body: list) -> None:
        self.listed.append(next(c["version"] for c in body if c["symbol"] == "BTCUSDT"))

    def answers_wait(self, count: int) -> None:
        """Until `count` more answers of each kind have come (or the poller failed)."""
        target = len(self.details) + count
        while len(self.details) < target and not self.failures:
            time.sleep(0.01)


@pytest.mark.postgres
def test_a_poller_sees_versions_only_move_forward_and_each_answer_whole(live_server, active_rules):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    analyst, alice, bob = (User.objects.get(username=name) for name in ("analyst", "alice", "bob"))
    poller = Poller(live_server.url, token_for(UserFactory(username="poller", roles=["consumers"])))
    poller.start()
    try:
        previous = "0.005"
        for rate in RATES:
            poller.answers_wait(3)  # answers before, between and after the activations
            text = edit(contract_text("BTCUSDT"), "maintenance_margin_rate: 0.005\n",
                        f"maintenance_margin_rate: {rate}\n")
            version = services.version_draft_create(actor=analyst, yaml_text=text, rationale=f"{previous} -> {rate}")
            version = approve_all(services.version_submit(actor=analyst, version=version), alice, bob)
            services.version_activate(actor=alice, version=version)
            previous = rate
        poller.answers_wait(3)
    finally:
        poller.stop.set()
        poller.join(timeout=60)
    assert poller.failures == []

    numbers = [body["version"] for body in poller.details]
    assert numbers == sorted(numbers) and poller.listed == sorted(poller.listed)
    assert set(numbers) == set(poller.listed) == {1, 2, 3, 4}
    hashes = dict(ParameterVersion.objects.filter(subject__key="BTCUSDT").values_list("number", "content_hash"))
    by_version: dict[int, dict] = {}
    for body in poller.details:
        assert body["content_hash"] == hashes[body["version"]]
        assert body == by_version.setdefault(body["version"], body)  # every answer for a version the same
    assert [by_version[n]["tiers"][1]["maintenance_margin_rate"] for n in (1, 2, 3, 4)] == ["0.005", *RATES]
