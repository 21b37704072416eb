"""Proposals: parameter versions drafted, reviewed and scheduled through the API.

Thin views over the workflow services, which check roles, states and policy exactly as they do
for the admin. Every request body goes through a strict serializer first (governance.api.bodies).
"""
from __future__ import annotations

from typing import Any, Callable

from django.db.models import prefetch_related_objects
from django.urls import path, reverse
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.bodies import StrictSerializer, body_valid
from governance.api.permissions import CanRead
from governance.api.serializers import ApprovalSerializer, error_responses
from governance.parameters import services
from governance.parameters.models import ParameterVersion, VersionState
from governance.parameters.selectors import version_errors, version_get

# --- request bodies -------------------------------------------------------------------------------

class ProposalCreateSerializer(StrictSerializer):
    yaml = serializers.CharField(trim_whitespace=False, help_text="The rule file's exact text.")
    rationale = serializers.CharField(help_text="Why the change is proposed.")
    subject = serializers.CharField(
        required=False, max_length=40,
        help_text="A contract symbol or 'exchange'; by default the file's `schema` and `symbol` say.")


class NoBodySerializer(StrictSerializer):
    pass


class ApproveSerializer(StrictSerializer):
    content_hash = serializers.CharField(max_length=64, help_text="The hash of the content you reviewed.")
    comment = serializers.CharField(required=False, default="", allow_blank=True)


class RejectSerializer(StrictSerializer):
    reason = serializers.CharField()


class WithdrawSerializer(StrictSerializer):
    reason = serializers.CharField(required=False, default="", allow_blank=True)


class ScheduleSerializer(StrictSerializer):
    effective_at = serializers.DateTimeField(help_text="When it takes effect; not before its notice ends.")


# --- responses ------------------------------------------------------------------------------------

class RuleErrorSerializer(serializers.Serializer):
    """One located error of a rule file (the same shape as `details` of validation_failed)."""

    line = serializers.IntegerField()
    column = serializers.IntegerField()
    path = serializers.CharField(source="path_text")
    message = serializers.CharField()
    text = serializers.CharField(source="*", help_text="file:line:column: path: message")


class ProposalSummarySerializer(serializers.ModelSerializer):
    subject = serializers.CharField(source="subject.key")
    # a string, as in the versions endpoints: an enum here would collide with theirs in the schema
    state = serializers.CharField(help_text=", ".join(VersionState.values))
    author = serializers.CharField(source="author.username")
    based_on = serializers.IntegerField(source="based_on.number", allow_null=True,
                                        help_text="The number of the version active when it was drafted or rebased.")

    class Meta:
        model = ParameterVersion
        fields = ["id", "subject", "number", "state", "content_hash", "author", "rationale", "based_on",
                  "emergency", "reason", "created_at", "updated_at", "submitted_at", "approved_at",
                  "effective_at", "activated_at", "superseded_at", "closed_at"]


class ProposalSerializer(ProposalSummarySerializer):
    yaml = serializers.CharField(source="yaml_text")
    approvals = ApprovalSerializer(many=True, help_text="Every approval, revoked ones with revoked_at.")
    errors = serializers.SerializerMethodField(help_text="Validation errors of the content now; empty when valid.")

    class Meta(ProposalSummarySerializer.Meta):
        fields = ProposalSummarySerializer.Meta.fields + ["yaml", "approvals", "errors"]

    @extend_schema_field(RuleErrorSerializer(many=True))
    def get_errors(self, version: ParameterVersion) -> list[dict[str, Any]]:
        return RuleErrorSerializer(version_errors(version), many=True).data


def proposal_data(pk: int) -> dict[str, Any]:
    version = version_get(pk=pk)
    prefetch_related_objects([version], "approvals__approver")
    return ProposalSerializer(version).data


# --- views ----------------------------------------------------------------------------------------

class ProposalFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=VersionState.choices)
    subject = filters.CharFilter(field_name="subject__key", help_text="A contract symbol or 'exchange'.")

    class Meta:
        model = ParameterVersion
        fields = ["state", "subject"]


class ProposalList(generics.ListAPIView):
    permission_classes = [CanRead]
    serializer_class = ProposalSummarySerializer
    filterset_class = ProposalFilter
    queryset = ParameterVersion.objects.select_related("subject", "author", "based_on").order_by("-pk")

    @extend_schema(responses={200: ProposalSummarySerializer(many=True), **error_responses(400, 401, 403, 404, 429)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Every version of every subject, newest first; filter by state and subject."""
        return super().get(request, *args, **kwargs)

    @extend_schema(request=ProposalCreateSerializer,
                   responses={201: ProposalSerializer, **error_responses(400, 401, 403, 415, 429)})
    def post(self, request: Request) -> Response:
        """Draft a new version (authors). Content that does not validate is refused with its
        located errors (line, column, path), and nothing is written."""
        body = body_valid(ProposalCreateSerializer, request)
        version = services.version_draft_create(actor=request.user, yaml_text=body["yaml"],
                                                rationale=body["rationale"], subject_key=body.get("subject"),
                                                require_valid=True)
        return Response(proposal_data(version.pk), status=201,
                        headers={"Location": reverse("api:proposal", kwargs={"pk": version.pk})})


class ProposalDetail(APIView):
    permission_classes = [CanRead]

    @extend_schema(responses={200: ProposalSerializer, **error_responses(401, 403, 404, 429)})
    def get(self, request: Request, pk: int) -> Response:
        """One version: its YAML, approvals, timestamps and current validation errors."""
        return Response(proposal_data(pk))


TRANSITION_ERRORS = error_responses(400, 401, 403, 404, 409, 415, 422, 429)


class Transition(APIView):
    """POST a body to one workflow service; the answer is the version afterwards."""

    permission_classes = [CanRead]
    body: type[serializers.Serializer] = NoBodySerializer
    service: Callable[..., ParameterVersion]

    def post(self, request: Request, pk: int) -> Response:
        body = body_valid(self.body, request)
        self.service(actor=request.user, version=version_get(pk=pk), **body)
        return Response(proposal_data(pk))


@extend_schema(request=None, responses={200: ProposalSerializer, **TRANSITION_ERRORS})
class ProposalSubmit(Transition):
    """Submit a draft for review (its author); its content must validate."""

    service = staticmethod(services.version_submit)


@extend_schema(request=ApproveSerializer, responses={200: ProposalSerializer, **TRANSITION_ERRORS})
class ProposalApprove(Transition):
    """Approve the exact content you reviewed (committee, never the author). It becomes
    approved when the approvals reach the quorum its change needs."""

    body, service = ApproveSerializer, staticmethod(services.version_approve)


@extend_schema(request=RejectSerializer, responses={200: ProposalSerializer, **TRANSITION_ERRORS})
class ProposalReject(Transition):
    """Reject a submitted version, with a reason (committee, never the author)."""

    body, service = RejectSerializer, staticmethod(services.version_reject)


@extend_schema(request=WithdrawSerializer, responses={200: ProposalSerializer, **TRANSITION_ERRORS})
class ProposalWithdraw(Transition):
    """Withdraw a version before it is active (its author), or cancel an approved or scheduled
    one (committee)."""

    body, service = WithdrawSerializer, staticmethod(services.version_withdraw)


@extend_schema(request=ScheduleSerializer, responses={200: ProposalSerializer, **TRANSITION_ERRORS})
class ProposalSchedule(Transition):
    """Schedule an approved version to take effect at a time (committee); Celery beat
    activates it when due."""

    body, service = ScheduleSerializer, staticmethod(services.version_schedule)


urlpatterns = [
    path("proposals/", ProposalList.as_view(), name="proposals"),
    path("proposals/<int:pk>/", ProposalDetail.as_view(), name="proposal"),
    path("proposals/<int:pk>/submit/", ProposalSubmit.as_view(), name="proposal-submit"),
    path("proposals/<int:pk>/approve/", ProposalApprove.as_view(), name="proposal-approve"),
    path("proposals/<int:pk>/reject/", ProposalReject.as_view(), name="proposal-reject"),
    path("proposals/<int:pk>/withdraw/", ProposalWithdraw.as_view(), name="proposal-withdraw"),
    path("proposals/<int:pk>/schedule/", ProposalSchedule.as_view(), name="proposal-schedule"),
]
