"""The admin pages, through Django's test client: thin views over the services."""
import re

import pytest
from django.urls import reverse

from governance.parameters import services
from governance.parameters.models import AuditEntry, ParameterVersion
from tests.parameters.conftest import contract_text, edit

pytestmark = pytest.mark.django_db
BTC = contract_text()
ADD = reverse("admin:parameters_parameterversion_add")


def page(client, version):
    return client.get(reverse("admin:parameters_parameterversion_change", args=[version.pk])).content.decode()


def transition(client, version, action, **data):
    url = reverse("admin:parameters_parameterversion_transition", args=[version.pk, action])
    return client.post(url, data, follow=True)


def test_a_change_goes_from_draft_to_active_in_the_admin(client, analyst, alice, bob):
    client.force_login(analyst)
    broken = edit(BTC, "    cap: 50000\n", "    cap: fifty\n")
    response = client.post(ADD, {"subject": "", "yaml_text": broken, "rationale": "Listing."}, follow=True)
    version = ParameterVersion.objects.get()
    html = response.content.decode()
    assert "BTCUSDT v1 saved as a draft with 1 error(s): fix them before you submit." in html
    assert re.search(r'<tr id="L11" class="has-error">.*?line 11: tiers\[0\]\.cap: expected a number, got '
                     r'&#x27;fifty&#x27;', html, re.S)
    assert 'id="action-submit"' in html  # the author may try; the service refuses while it is invalid
    html = transition(client, version, "submit").content.decode()
    assert "BTCUSDT v1 does not validate: 1 error(s)" in html
    client.post(reverse("admin:parameters_parameterversion_change", args=[version.pk]),
                {"yaml_text": BTC, "rationale": "Listing."})
    html = transition(client, version, "submit").content.decode()
    assert "BTCUSDT v1: submit done; it is now submitted." in html

    version.refresh_from_db()  # the hash the members review is the fixed content's
    for member in (alice, bob):
        client.force_login(member)
        html = page(client, version)
        assert 'id="action-approve"' in html and 'id="action-submit"' not in html
        transition(client, version, "approve", content_hash=version.content_hash)
    client.force_login(alice)
    html = transition(client, version, "activate").content.decode()
    assert "BTCUSDT v1: activate done; it is now active." in html
    assert [e.action for e in AuditEntry.objects.order_by("sequence")] == [
        "draft_created", "draft_edited", "submitted", "approval_given", "approval_given", "approved", "activated"]
    assert "activated" in html and "approval_given" in html  # the audit history on the page


def test_the_diff_shows_field_old_new_relative_change_and_guardrail(client, activate, analyst):
    activate(BTC)
    client.force_login(analyst)
    text = edit(BTC, "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.0045")
    text = edit(text, "maintenance_margin_rate: 0.005\n", "maintenance_margin_rate: 0.0045\n")
    client.post(ADD, {"subject": "BTCUSDT", "yaml_text": text, "rationale": "Cheaper tier 3."})
    html = page(client, ParameterVersion.objects.get(number=2))
    row = re.search(r'<tr class="loosening">\s*<td>tiers\[2\]\.maintenance_margin_rate</td>(.*?)</tr>', html, re.S)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert [c.strip() for c in cells] == ["0.0065", "0.0045", "-31%", "maintenance_margin_rate", "loosening",
                                          "<strong>beyond 0.25</strong>"]


def test_a_member_cannot_approve_their_own_draft_and_sees_why(client, activate):
    from tests.parameters.factories import UserFactory
    both = UserFactory(username="both", roles=["authors", "committee"])
    client.force_login(both)
    client.post(ADD, {"subject": "", "yaml_text": BTC, "rationale": "r"})
    version = ParameterVersion.objects.get()
    transition(client, version, "submit")
    assert 'id="action-approve"' not in page(client, version)
    html = transition(client, version, "approve", content_hash=version.content_hash).content.decode()
    assert "Both wrote BTCUSDT v1 and may not approve it (four eyes)" in html


def test_people_without_a_role_see_nothing(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("admin:parameters_parameterversion_changelist")).status_code == 403
    assert client.get(ADD).status_code == 403


def test_people_without_a_role_can_make_no_transition_and_learn_nothing_of_the_version(client, analyst, outsider):
    version = services.version_draft_create(actor=analyst, yaml_text=BTC, rationale="r")
    client.force_login(outsider)
    url = reverse("admin:parameters_parameterversion_transition", args=[version.pk, "withdraw"])
    response = client.post(url, {"reason": "x"})
    assert response.status_code == 403
    assert "You may not view parameter versions." in response.content.decode()
    assert "analyst" not in response.content.decode()
    version.refresh_from_db()
    assert version.state == "draft"


def test_a_draft_with_a_numeric_top_level_key_still_shows_its_page(client, activate, analyst):
    activate(BTC)
    client.force_login(analyst)
    client.post(ADD, {"subject": "BTCUSDT", "yaml_text": BTC + '"123": x\n', "rationale": "r"})
    version = ParameterVersion.objects.get(number=2)
    response = client.get(reverse("admin:parameters_parameterversion_change", args=[version.pk]))
    assert response.status_code == 200
    assert "123" in response.content.decode()


def test_the_committee_sees_a_contract_s_versions_on_its_page(client, activate, alice):
    from governance.parameters.models import Subject

    activate(BTC)
    client.force_login(alice)
    subject = Subject.objects.get(key="BTCUSDT")
    html = client.get(reverse("admin:parameters_subject_change", args=[subject.pk])).content.decode()
    link = reverse("admin:parameters_parameterversion_change", args=[ParameterVersion.objects.get().pk])
    assert f'<a href="{link}">v1</a>' in html


def test_subject_and_audit_lists_render(client, activate, alice):
    activate(BTC)
    client.force_login(alice)
    html = client.get(reverse("admin:parameters_subject_changelist")).content.decode()
    assert "BTCUSDT" in html and ">v1</a> since" in html
    html = client.get(reverse("admin:parameters_auditentry_changelist")).content.decode()
    assert "draft_created" in html and "activated" in html
    assert client.get(reverse("admin:parameters_auditentry_add")).status_code == 403
