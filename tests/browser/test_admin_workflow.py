"""The committee's workflow in a real browser, through the admin's pages only.

The issue's words: an analyst drafts a change with an error, sees it at its line, fixes and
submits it; two committee members approve it; it becomes active; the diff page and the audit
history show it. Each person logs in through the login form in a browser context of their own.
Playwright is imported inside the tests, so that without it they skip (fail under CI=true, see
conftest.py) instead of breaking collection.
"""
import re
from pathlib import Path

import pytest
from django.conf import settings

from governance.parameters.demo import demo_password, demo_rules_bootstrap, demo_users_ensure
from tests.parameters.conftest import contract_text, edit
from tests.parameters.factories import UserFactory

pytestmark = pytest.mark.browser

BTC = contract_text()
# Tier 2 (line 21) below tier 1's 0.005: the error the analyst makes, and then fixes to a tightening.
BROKEN = edit(BTC, "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.0045")
FIXED = edit(BTC, "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.007")
LINE_ERROR = ("\u2191 line 21: tiers[2].maintenance_margin_rate: maintenance margin rate 0.0045 is below the "
              "previous tier's 0.005; rates must not decrease from tier to tier")
DIFF_ROW = ["tiers[2].maintenance_margin_rate", "0.0065", "0.007", "8%", "maintenance_margin_rate", "tightening",
            "within 0.25"]


@pytest.fixture
def baseline(transactional_db):
    """The demo people (analyst, alice, bob, ...) and all of rules/ active as v1, through the workflow."""
    demo_users_ensure()
    demo_rules_bootstrap(rules_dir=Path(settings.RULES_DIR))


def as_user(login, username):
    return login(username, demo_password(username))


def expect_message(page, text, level="success"):
    from playwright.sync_api import expect
    expect(page.locator(f"ul.messagelist li.{level}")).to_have_text(text)


def diff_rows(page):
    return page.locator("#diff table.diff tbody tr")


def test_a_change_goes_from_a_draft_with_an_error_to_active(baseline, login):
    from playwright.sync_api import expect

    # The analyst proposes a change to BTCUSDT from the subject list: the form starts from the active file.
    analyst = as_user(login, "analyst")
    analyst.goto("/admin/parameters/subject/?q=BTCUSDT")
    analyst.get_by_role("row").filter(has_text="BTCUSDT").get_by_role("link", name="propose a change").click()
    expect(analyst.get_by_role("heading", name="Propose a parameter change")).to_be_visible()
    expect(analyst.get_by_label("Subject")).to_have_value("BTCUSDT")
    yaml_box = analyst.get_by_label("Rule file (YAML)")
    expect(yaml_box).to_have_value(BTC)
    yaml_box.fill(BROKEN)
    analyst.get_by_label("Rationale").fill("Tier 3 maintenance closer to tier 4.")
    analyst.get_by_role("button", name="Save draft").click()

    # The version page: saved as a draft, the error at line 21 and nowhere else.
    expect(analyst).to_have_url(re.compile(r"/admin/parameters/parameterversion/\d+/change/$"))
    version_url = analyst.url
    expect_message(analyst, "BTCUSDT v2 saved as a draft with 1 error(s): fix them before you submit.", "warning")
    expect(analyst.locator("#version")).to_have_attribute("data-state", "draft")
    expect(analyst.locator("#error-count")).to_have_text("1 error(s)")
    expect(analyst.locator("#content tr.has-error")).to_have_count(1)
    line = analyst.locator("#L21")
    expect(line).to_have_class("has-error")
    expect(line.locator("td.n")).to_have_text("21")
    expect(line).to_contain_text("    maintenance_margin_rate: 0.0045")
    expect(line.locator(".line-error")).to_have_text(LINE_ERROR)

    # Submitting it as it is is refused with the service's reason.
    analyst.locator("#action-submit").get_by_role("button", name="Submit").click()
    expect_message(analyst, "BTCUSDT v2 does not validate: 1 error(s); first: rules/contracts/BTCUSDT.yaml:21:"
                            "30: tiers[2].maintenance_margin_rate: maintenance margin rate 0.0045 is below the "
                            "previous tier's 0.005; rates must not decrease from tier to tier", "error")
    expect(analyst.locator("#version")).to_have_attribute("data-state", "draft")

    # The analyst fixes it in the edit form to a tightening (0.0065 -> 0.007) and submits it.
    edit_form = analyst.locator("#edit-form")
    yaml_box = edit_form.locator("textarea[name=yaml_text]")
    expect(yaml_box).to_have_value(BROKEN.rstrip())  # the form field strips the final newline
    yaml_box.fill(FIXED)
    edit_form.locator("textarea[name=rationale]").fill("Tier 3 maintenance 0.0065 -> 0.007: a tightening.")
    edit_form.get_by_role("button", name="Save draft").click()
    expect_message(analyst, "BTCUSDT v2 saved as a draft; it validates.")
    expect(analyst.locator("#error-count")).to_have_count(0)
    expect(analyst.locator("#content tr.has-error")).to_have_count(0)
    expect(analyst.locator("#L21")).to_contain_text("    maintenance_margin_rate: 0.007")
    analyst.locator("#action-submit").get_by_role("button", name="Submit").click()
    expect_message(analyst, "BTCUSDT v2: submit done; it is now submitted.")
    expect(analyst.locator("#version")).to_have_attribute("data-state", "submitted")
    expect(analyst.locator("#action-approve")).to_have_count(0)  # not for the author

    # Alice reviews the diff (field, active, proposed, relative change) and approves.
    alice = as_user(login, "alice")
    alice.goto(version_url)
    expect(alice.locator("#diff h2")).to_have_text("Changes against the active version (v1)")
    expect(alice.locator("#diff thead th")).to_have_text(
        ["field", "active", "proposed", "relative change", "guardrail", "direction", "step bound"])
    expect(diff_rows(alice)).to_have_count(1)
    expect(diff_rows(alice).first).to_have_class("tightening")
    expect(diff_rows(alice).first.locator("td")).to_have_text(DIFF_ROW)
    expect(alice.locator("#approval-count")).to_have_text("0 of 2")
    expect(alice.locator("#approvals")).to_contain_text("No notice period: it may take effect once approved.")
    expect(alice.locator("#action-activate")).to_have_count(0)
    approve = alice.locator("#action-approve")
    approve.get_by_placeholder("comment (optional)").fill("Tighter is fine.")
    approve.get_by_role("button", name="Approve").click()
    expect_message(alice, "BTCUSDT v2: approve done; it is now submitted.")
    expect(alice.locator("#approval-count")).to_have_text("1 of 2")
    expect(alice.locator("#approvals li").first).to_contain_text("alice")
    expect(alice.locator("#approvals li").first).to_contain_text(": Tighter is fine.")
    expect(alice.locator("#action-approve")).to_have_count(0)  # once per member

    # Bob approves: the quorum is reached.
    bob = as_user(login, "bob")
    bob.goto(version_url)
    expect(bob.locator("#approval-count")).to_have_text("1 of 2")
    bob.locator("#action-approve").get_by_role("button", name="Approve").click()
    expect_message(bob, "BTCUSDT v2: approve done; it is now approved.")
    expect(bob.locator("#version")).to_have_attribute("data-state", "approved")
    expect(bob.locator("#approval-count")).to_have_text("2 of 2")

    # A tightening needs no notice: Alice activates it at once.
    alice.reload()
    expect(alice.locator("#version")).to_have_attribute("data-state", "approved")
    alice.locator("#action-activate").get_by_role("button", name="Activate").click()
    expect_message(alice, "BTCUSDT v2: activate done; it is now active.")
    expect(alice).to_have_url(version_url)
    expect(alice.locator("#version")).to_have_attribute("data-state", "active")
    expect(alice.locator("#version .state-badge")).to_have_text("active")
    expect(alice.get_by_role("heading", level=1)).to_have_text("BTCUSDT v2 (active)")
    expect(alice.locator("#version")).to_contain_text("active now: v2.")

    # The active version's page still shows what it changed, against the version it replaced.
    expect(alice.locator("#diff h2")).to_have_text("Changes against the version it replaced (v1)")
    expect(alice.locator("#diff thead th")).to_have_text(
        ["field", "v1", "v2", "relative change", "guardrail", "direction", "step bound"])
    expect(diff_rows(alice)).to_have_count(1)
    expect(diff_rows(alice).first.locator("td")).to_have_text(DIFF_ROW)

    # The audit history: every step, in order, with who took it.
    audit = alice.locator("#audit tbody tr")
    expect(audit.locator("td:nth-child(3)")).to_have_text(
        ["analyst", "analyst", "analyst", "alice", "bob", "bob", "alice"])
    expect(audit.locator("td:nth-child(4)")).to_have_text(
        ["draft_created", "draft_edited", "submitted", "approval_given", "approval_given", "approved", "activated"])
    expect(audit.locator("td:nth-child(5)")).to_have_text(
        ["\u2192 draft", "draft \u2192 draft", "draft \u2192 submitted", "submitted \u2192 submitted",
         "submitted \u2192 submitted", "submitted \u2192 approved", "approved \u2192 active"])

    # The subject list links the new active version.
    alice.goto("/admin/parameters/subject/?q=BTCUSDT")
    expect(alice.get_by_role("row").filter(has_text="BTCUSDT").get_by_role("link", name="v2")).to_be_visible()


@pytest.mark.parametrize("author, roles, refusal", [
    ("analyst", None, "Analyst may not approve BTCUSDT v2: it needs the committee role (group 'risk-committee')"),
    ("dana", ["authors", "committee"], "Dana wrote BTCUSDT v2 and may not approve it (four eyes)"),
], ids=["analyst", "author-on-the-committee"])
def test_the_author_sees_no_approve_button_and_a_forged_approval_is_refused(baseline, login, author, roles, refusal):
    from playwright.sync_api import expect

    if roles:  # also on the committee: only the four-eyes rule keeps the button away
        UserFactory(username=author, roles=roles)
    page = login(author, "pw") if roles else as_user(login, author)
    page.goto("/admin/parameters/parameterversion/add/?subject=BTCUSDT")
    page.get_by_label("Rule file (YAML)").fill(FIXED)
    page.get_by_label("Rationale").fill("Tier 3 tightening.")
    page.get_by_role("button", name="Save draft").click()
    expect_message(page, "BTCUSDT v2 saved as a draft; it validates.")
    page.locator("#action-submit").get_by_role("button", name="Submit").click()
    expect_message(page, "BTCUSDT v2: submit done; it is now submitted.")

    # What the author may do with their own submitted version: withdraw it, nothing else.
    expect(page.locator("#actions form")).to_have_count(1)
    expect(page.locator("#action-withdraw")).to_be_visible()
    expect(page.locator("#action-approve")).to_have_count(0)

    # A hand-made POST to the approve URL (with the page's CSRF token and hash) is refused by the service.
    version_url = page.url
    token = page.locator("#action-withdraw input[name=csrfmiddlewaretoken]").get_attribute("value")
    content_hash = page.locator("#version").get_attribute("data-hash")
    page.evaluate(
        """([url, fields]) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = url;
            for (const [name, value] of Object.entries(fields)) {
                const input = document.createElement("input");
                input.type = "hidden"; input.name = name; input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }""",
        [version_url.replace("/change/", "/transition/approve/"),
         {"csrfmiddlewaretoken": token, "content_hash": content_hash}])
    expect_message(page, refusal, "error")
    expect(page).to_have_url(version_url)
    expect(page.locator("#version")).to_have_attribute("data-state", "submitted")
    expect(page.locator("#approval-count")).to_have_text("0 of 2")
    expect(page.locator("#approvals li")).to_have_text(["none yet"])
