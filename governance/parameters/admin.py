"""The risk committee's admin. Views are thin: every write goes through the services."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone as dt_timezone

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from governance.errors import DomainError
from governance.parameters import services
from governance.parameters.assessment import changes_assess
from governance.parameters.forms import DraftEditForm, DraftForm
from governance.parameters.models import AuditEntry, ParameterVersion, Subject, VersionState
from governance.parameters.policy import policy_current, user_has_role
from governance.parameters.selectors import (
    active_version,
    audit_of_version,
    content_validate,
    live_approvals,
    version_assessment,
    version_data,
    version_get,
    version_is_rollback,
    version_is_stale,
)
from governance.parameters.transitions import actions_available

class RoleAccessMixin:
    """Who sees the parameters admin follows the policy's roles, not separately managed permissions."""

    def has_module_permission(self, request):
        return _governs(request.user)

    def has_view_permission(self, request, obj=None):
        return _governs(request.user)


class ReadOnlyMixin:
    """Shown, never written through the admin: writes go through the services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _governs(user) -> bool:
    return user.is_active and user.is_staff and (
        user.is_superuser or any(user_has_role(user, role) for role in ("authors", "committee", "emergency")))


BADGE_COLOURS = {
    "draft": "#6c757d", "submitted": "#0d6efd", "approved": "#6f42c1", "scheduled": "#fd7e14",
    "active": "#198754", "superseded": "#adb5bd", "rejected": "#dc3545", "withdrawn": "#adb5bd", "expired": "#adb5bd",
}


def state_badge(state: str) -> str:
    return format_html('<span class="state-badge state-{}" style="background:{};color:#fff;padding:2px 8px;'
                       'border-radius:10px;font-size:11px;">{}</span>', state, BADGE_COLOURS.get(state, "#333"), state)


class VersionInline(RoleAccessMixin, admin.TabularInline):
    model = ParameterVersion
    fields = ("version_link", "badge", "author", "rationale", "created_at", "effective_at", "activated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    ordering = ("-number",)

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="version")
    def version_link(self, obj):
        url = reverse("admin:parameters_parameterversion_change", args=[obj.pk])
        return format_html('<a href="{}">v{}</a>', url, obj.number)

    @admin.display(description="state")
    def badge(self, obj):
        return state_badge(obj.state)


@admin.register(Subject)
class SubjectAdmin(RoleAccessMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("key", "kind", "active", "pending", "propose")
    list_filter = ("kind",)
    search_fields = ("key",)
    inlines = [VersionInline]
    fields = ("key", "kind", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        pending = [VersionState.DRAFT, VersionState.SUBMITTED, VersionState.APPROVED, VersionState.SCHEDULED]
        return super().get_queryset(request).annotate(
            pending_count=Count("versions", filter=Q(versions__state__in=pending)))

    @admin.display(description="active version")
    def active(self, obj):
        version = active_version(subject=obj)
        if version is None:
            return "none"
        url = reverse("admin:parameters_parameterversion_change", args=[version.pk])
        return format_html('<a href="{}">v{}</a> since {}', url, version.number,
                           timezone.localtime(version.activated_at).strftime("%Y-%m-%d %H:%M"))

    @admin.display(description="pending proposals", ordering="pending_count")
    def pending(self, obj):
        return obj.pending_count

    @admin.display(description="")
    def propose(self, obj):
        url = reverse("admin:parameters_parameterversion_add") + f"?subject={obj.key}"
        return format_html('<a href="{}">propose a change</a>', url)


@admin.register(ParameterVersion)
class ParameterVersionAdmin(RoleAccessMixin, admin.ModelAdmin):
    list_display = ("subject", "number_link", "badge", "author", "created_at", "effective_at", "flags")
    list_filter = ("state", "subject__kind", "emergency")
    search_fields = ("subject__key", "rationale")
    list_select_related = ("subject", "author")
    ordering = ("subject__key", "-number")

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return user_has_role(request.user, "authors")

    def has_change_permission(self, request, obj=None):
        return False  # edits and transitions go through the version page's own forms

    @admin.display(description="version", ordering="number")
    def number_link(self, obj):
        url = reverse("admin:parameters_parameterversion_change", args=[obj.pk])
        return format_html('<a href="{}">v{}</a>', url, obj.number)

    @admin.display(description="state", ordering="state")
    def badge(self, obj):
        return state_badge(obj.state)

    @admin.display(description="")
    def flags(self, obj):
        return "unratified emergency" if obj.unratified else ("emergency" if obj.emergency else "")

    def get_urls(self):
        custom = [
            path("<int:object_id>/transition/<str:action>/", self.admin_site.admin_view(self.transition_view),
                 name="parameters_parameterversion_transition"),
            path("<int:object_id>/impact/", self.admin_site.admin_view(self.impact_view),
                 name="parameters_parameterversion_impact"),
        ]
        return custom + super().get_urls()

    # --- pages -------------------------------------------------------------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            return self._refuse(request, "You need the authors role to propose a change.")
        initial = {}
        if request.method == "GET" and (key := request.GET.get("subject")):
            subject = Subject.objects.filter(key=key).first()
            base = active_version(subject=subject) if subject else None
            initial = {"subject": key, "yaml_text": base.yaml_text if base else ""}
        form = DraftForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                version = services.version_draft_create(
                    actor=request.user, yaml_text=form.cleaned_data["yaml_text"],
                    rationale=form.cleaned_data["rationale"], subject_key=form.cleaned_data["subject"] or None)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self._report_draft(request, version)
                return HttpResponseRedirect(reverse("admin:parameters_parameterversion_change", args=[version.pk]))
        context = {**self.admin_site.each_context(request), "title": "Propose a parameter change", "form": form,
                   "opts": self.model._meta}
        return render(request, "admin/parameters/version_add.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        try:
            version = version_get(pk=int(object_id))
        except (DomainError, ValueError):
            return self._refuse(request, f"No parameter version {object_id}.", status=404)
        if not self.has_view_permission(request, version):
            return self._refuse(request, "You may not view parameter versions.")
        edit_form = None
        if version.state == VersionState.DRAFT and request.user.pk == version.author_id:
            edit_form = DraftEditForm(request.POST or None,
                                      initial={"yaml_text": version.yaml_text, "rationale": version.rationale})
            if request.method == "POST" and edit_form.is_valid():
                try:
                    version = services.version_draft_update(
                        actor=request.user, version=version, yaml_text=edit_form.cleaned_data["yaml_text"],
                        rationale=edit_form.cleaned_data["rationale"])
                except DomainError as exc:
                    messages.error(request, exc.message)
                else:
                    self._report_draft(request, version)
                return HttpResponseRedirect(request.path)
        return TemplateResponse(request, "admin/parameters/version_detail.html",
                                self._version_context(request, version, edit_form))

    def transition_view(self, request: HttpRequest, object_id: int, action: str) -> HttpResponse:
        back = reverse("admin:parameters_parameterversion_change", args=[object_id])
        if request.method != "POST":
            return HttpResponseRedirect(back)
        if not self.has_view_permission(request):  # no role in the governance: nothing to say about the version
            return self._refuse(request, "You may not view parameter versions.")
        try:
            version = version_get(pk=object_id)
            result = self._transition(request, version, action)
        except DomainError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(back)
        messages.success(request, f"{result}: {action.replace('_', ' ')} done; it is now {result.state}.")
        return HttpResponseRedirect(reverse("admin:parameters_parameterversion_change", args=[result.pk]))

    def impact_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Ask for a fresh impact preview (one is requested on submission and refreshed when the book moves)."""
        from governance.positions.impact import impact_preview_request

        back = reverse("admin:parameters_parameterversion_change", args=[object_id]) + "#impact"
        if request.method != "POST":
            return HttpResponseRedirect(back)
        try:
            version = version_get(pk=object_id)
            if not self.has_view_permission(request, version):
                return self._refuse(request, "You may not view parameter versions.")
            impact_preview_request(version=version)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{version}: impact preview requested; a worker computes it.")
        return HttpResponseRedirect(back)

    # --- helpers -------------------------------------------------------------------------------------------

    def _transition(self, request: HttpRequest, version: ParameterVersion, action: str) -> ParameterVersion:
        user, post = request.user, request.POST
        calls = {
            "submit": lambda: services.version_submit(actor=user, version=version),
            "rebase": lambda: services.version_rebase(actor=user, version=version),
            "withdraw": lambda: services.version_withdraw(actor=user, version=version, reason=post.get("reason", "")),
            "reject": lambda: services.version_reject(actor=user, version=version, reason=post.get("reason", "")),
            "approve": lambda: services.version_approve(actor=user, version=version,
                                                        content_hash=post.get("content_hash", ""),
                                                        comment=post.get("comment", "")),
            "schedule": lambda: services.version_schedule(actor=user, version=version,
                                                          effective_at=_parse_utc(post.get("effective_at", ""))),
            "activate": lambda: services.version_activate(actor=user, version=version),
            "emergency_activate": lambda: services.version_emergency_activate(actor=user, version=version,
                                                                              reason=post.get("reason", "")),
            "ratify": lambda: services.version_ratify(actor=user, version=version, comment=post.get("comment", "")),
            "rollback": lambda: services.version_rollback_draft(actor=user, version=version),
        }
        if action not in calls:
            raise DomainError(f"unknown action '{action}'")
        return calls[action]()

    def _report_draft(self, request: HttpRequest, version: ParameterVersion) -> None:
        errors = content_validate(subject_key=version.subject.key, kind=version.subject.kind,
                                  yaml_text=version.yaml_text).errors
        if errors:
            messages.warning(request, f"{version} saved as a draft with {len(errors)} error(s): "
                                      "fix them before you submit.")
        else:
            messages.success(request, f"{version} saved as a draft; it validates.")

    def _refuse(self, request: HttpRequest, message: str, status: int = 403) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "title": "Not possible", "message": message}
        return TemplateResponse(request, "admin/parameters/refused.html", context, status=status)

    def _version_context(self, request: HttpRequest, version: ParameterVersion, edit_form) -> dict:
        now = timezone.now()
        content = content_validate(subject_key=version.subject.key, kind=version.subject.kind,
                                   yaml_text=version.yaml_text)
        errors_by_line = defaultdict(list)
        for error in content.errors:
            errors_by_line[error.line].append(f"{error.path_text + ': ' if error.path else ''}{error.message}")
        lines = [{"number": n, "text": text, "errors": errors_by_line.get(n, [])}
                 for n, text in enumerate(version.yaml_text.splitlines() or [""], start=1)]
        base = active_version(subject=version.subject)
        # An active version's diff against the active version (itself) would be empty: it shows what it
        # changed instead, against the version it replaced (it was based on the active one when activated).
        diff_base = version.based_on if version.state == VersionState.ACTIVE else base
        if not content.data:
            assessment = None
        elif version.state == VersionState.ACTIVE:
            assessment = changes_assess(old=version_data(diff_base) if diff_base else None,
                                        new=version_data(version) or {}, policy=policy_current(),
                                        rollback=version_is_rollback(version))
        else:
            assessment = version_assessment(version)
        available = actions_available(version=version, user=request.user, now=now)
        approvals = list(live_approvals(version))
        from governance.positions.impact import PREVIEWABLE, impact_preview_latest  # the book is another app's

        impact = impact_preview_latest(version=version) if version.state in PREVIEWABLE else None
        return {
            **self.admin_site.each_context(request),
            "title": f"{version} ({version.state})",
            "opts": self.model._meta,
            "version": version,
            "badge": state_badge(version.state),
            "lines": lines,
            "errors": content.errors,
            "edit_form": edit_form,
            "active": base,
            "diff_base": diff_base,
            "stale": version.state in (VersionState.DRAFT, VersionState.SUBMITTED) and version_is_stale(version),
            "assessment": assessment,
            "changes": [c for c in assessment.changes] if assessment else [],
            "approvals": approvals,
            "ratifications": list(live_approvals(version, "ratification")),
            "required": assessment.required_approvals if assessment else None,
            "missing": max(0, assessment.required_approvals - len(approvals)) if assessment else None,
            "expiry_hours": policy_current().approval_expiry_hours,
            "actions": [a for a, why in available.items() if why is None and a != "edit"],
            "blocked": {a: why for a, why in available.items() if why},
            "audit": audit_of_version(version).select_related("actor"),
            "impact": impact,
            "now": now,
        }


def _parse_utc(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DomainError(f"effective time '{text}' is not a date and time (YYYY-MM-DDTHH:MM, UTC)") from None
    return value.replace(tzinfo=dt_timezone.utc) if value.tzinfo is None else value


@admin.register(AuditEntry)
class AuditEntryAdmin(RoleAccessMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("sequence", "at", "actor_name", "action", "subject_key", "version_number", "transition",
                    "reason", "short_hash")
    list_filter = ("action", "subject_key")
    search_fields = ("subject_key", "actor_name", "reason")
    ordering = ("-sequence",)

    @admin.display(description="state")
    def transition(self, obj):
        return f"{obj.from_state} → {obj.to_state}" if obj.from_state or obj.to_state else ""

    @admin.display(description="entry hash")
    def short_hash(self, obj):
        return obj.entry_hash[:12]
