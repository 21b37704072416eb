"""The parameter endpoints. Thin: query parameters are validated by a serializer, selectors
build the bodies inside one snapshot, and the ETag is computed first from the content hashes
the body is built from, so a 304 builds nothing."""
from __future__ import annotations

from typing import Callable

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from governance.api import selectors
from governance.api.bodies import input_valid
from governance.api.conditional import ACCEPTED_PLAIN, RENDERED, etag_matches, response_tagged
from governance.api.pagination import Pages
from governance.api.permissions import CanRead
from governance.api.selectors import When
from governance.api.serializers import (
    AsOfQuerySerializer, BracketQuerySerializer, ContractParametersSerializer, ContractSummarySerializer,
    DiffQuerySerializer, DiffSerializer, ExchangeParametersSerializer, LeverageBracketSerializer,
    ScheduledSerializer, VersionDetailSerializer, VersionStatesQuerySerializer, VersionSummarySerializer,
    error_responses)
from governance.errors import NotFound
from governance.parameters.models import Subject

READ_ERRORS = error_responses(400, 401, 403, 404, 429)
NOT_MODIFIED = {304: OpenApiResponse(description="Not modified: the ETag given in If-None-Match still holds")}


def _query(serializer_class: type[Serializer], request: Request) -> dict:
    return input_valid(serializer_class, request.query_params)


def _when(request: Request) -> When:
    return When(**_query(AsOfQuerySerializer, request))


def _unchanged(request: Request, etag: str) -> bool:
    return etag_matches(request.headers.get("If-None-Match", ""), f'"{etag}"')


def _tagged(response: Response, etag: str) -> Response:
    return response_tagged(response, f'"{etag}"')


def _cached(request: Request, etag: str, build: Callable[[], object]) -> Response:
    return _tagged(Response(status=304) if _unchanged(request, etag) else Response(build()), etag)


class ParametersView(APIView):
    permission_classes = [CanRead]


class ContractList(ParametersView):
    @extend_schema(parameters=[AsOfQuerySerializer],
                   responses={200: ContractSummarySerializer(many=True), **NOT_MODIFIED, **READ_ERRORS})
    def get(self, request: Request) -> Response:
        """Every contract with its version in force (now, or `as_of` / `recorded_by`)."""
        when = _when(request)
        with selectors.snapshot():
            return _cached(request, selectors.contracts_etag(when=when), lambda: selectors.contracts_list(when=when))


class ContractDetail(ParametersView):
    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        # only the answer the fast path would give: a plain GET, negotiated as it does (another
        # Accept, say "application/json; indent=8", renders other bytes for the same ETag)
        if (request.method == "GET" and not request.META.get("QUERY_STRING") and response.status_code == 200
                and response.has_header("ETag") and request.META.get("HTTP_ACCEPT", "*/*") in ACCEPTED_PLAIN):
            response.render()  # what the fast path will answer for this ETag, byte for byte
            RENDERED.put(response["ETag"], response.content, response["Content-Type"])
        return response

    @extend_schema(parameters=[AsOfQuerySerializer],
                   responses={200: ContractParametersSerializer, **NOT_MODIFIED, **READ_ERRORS})
    def get(self, request: Request, symbol: str) -> Response:
        """One contract's parameters in force, with the derived values: maintenance amounts per
        tier, the effective multiplier and volatility band, the margin-call threshold."""
        when = _when(request)
        if when.now:  # the ETag now is one statement (or remembered): a 304 needs nothing more
            etag = selectors.contract_etag_now(symbol)
            if _unchanged(request, etag):
                return _tagged(Response(status=304), etag)
        with selectors.snapshot():
            etag = selectors.contract_etag(symbol=symbol, when=when)

            def build() -> dict:
                return selectors.contract_parameters(symbol=symbol, when=when)
            return _cached(request, etag, (lambda: selectors.BODIES.get(("contract", symbol, etag), build))
                           if when.now else build)


class ExchangeDetail(ParametersView):
    @extend_schema(parameters=[AsOfQuerySerializer],
                   responses={200: ExchangeParametersSerializer, **NOT_MODIFIED, **READ_ERRORS})
    def get(self, request: Request) -> Response:
        """The exchange-wide adjustments in force: global multiplier, contract groups with their
        multipliers, the default margin-call threshold."""
        when = _when(request)
        with selectors.snapshot():
            return _cached(request, selectors.exchange_etag(when=when), lambda: selectors.exchange_parameters(when=when))


class _SubjectView(ParametersView):
    exchange = False  # the exchange-wide subject instead of a contract

    def subject(self, symbol: str | None) -> Subject:
        if not self.exchange and symbol == Subject.EXCHANGE_KEY:
            raise NotFound(f"no contract {symbol!r}")
        return selectors.subject_require(key=Subject.EXCHANGE_KEY if self.exchange else symbol)


class VersionList(_SubjectView, generics.ListAPIView):
    serializer_class = VersionSummarySerializer
    pagination_class = Pages
    filter_backends = []  # `state` is read by the query serializer below

    def get_queryset(self):
        states = sorted(_query(VersionStatesQuerySerializer, self.request).get("state", []))
        return selectors.versions_of(subject=self.subject(self.kwargs.get("symbol")), states=states)

    @extend_schema(parameters=[VersionStatesQuerySerializer], responses={200: VersionSummarySerializer(many=True),
                                                                        **READ_ERRORS})
    def get(self, request: Request, *args, **kwargs) -> Response:
        """The versions of a contract (or of the exchange-wide adjustments), newest first, with
        their states and the times of each step."""
        return super().get(request, *args, **kwargs)


class VersionDetail(_SubjectView):
    @extend_schema(responses={200: VersionDetailSerializer, **NOT_MODIFIED, **READ_ERRORS})
    def get(self, request: Request, number: int, symbol: str | None = None) -> Response:
        """One version: its content as proposed (YAML) and parsed, its state and approvals."""
        with selectors.snapshot():
            version = selectors.version_of(subject=self.subject(symbol), number=number)

            def build() -> dict:
                version.content = selectors.version_content(version)
                return VersionDetailSerializer(version).data
            return _cached(request, selectors.version_etag(version), build)


class VersionDiff(_SubjectView):
    @extend_schema(parameters=[DiffQuerySerializer], responses={200: DiffSerializer, **READ_ERRORS})
    def get(self, request: Request, symbol: str | None = None) -> Response:
        """Field by field from one version to another (by default from the version in force),
        each change marked tightening or loosening by the policy's guardrails."""
        query = _query(DiffQuerySerializer, request)
        with selectors.snapshot():
            subject = self.subject(symbol)
            new = selectors.version_of(subject=subject, number=query["to_version"])
            if "from_version" in query:
                old = selectors.version_of(subject=subject, number=query["from_version"])
            else:
                old = selectors.versions_of(subject=subject, states=["active"]).first()
                if old is None:
                    raise NotFound(f"{subject.key} has no version in force to compare with: give from_version")
            return Response(selectors.versions_diff(subject=subject, old=old, new=new))


class Schedule(ParametersView):
    @extend_schema(responses={200: ScheduledSerializer(many=True), **NOT_MODIFIED, **READ_ERRORS})
    def get(self, request: Request) -> Response:
        """What is going to change: approved versions waiting for activation and scheduled ones
        with their effective times, soonest first."""
        with selectors.snapshot():
            return _cached(request, selectors.schedule_etag(), selectors.schedule_list)


# as the exchange answers: an object with `symbol`, a list of them without
BRACKETS_ONE_OR_ALL = PolymorphicProxySerializer(
    component_name="LeverageBracketsAnswer", resource_type_field_name=None,
    serializers=[LeverageBracketSerializer, LeverageBracketSerializer(many=True)], many=False)


class LeverageBrackets(ParametersView):
    @extend_schema(parameters=[BracketQuerySerializer, AsOfQuerySerializer],
                   responses={200: BRACKETS_ONE_OR_ALL, **NOT_MODIFIED, **READ_ERRORS})
    def get(self, request: Request) -> Response:
        """The tiers in force in the shape of a large exchange's public leverage-bracket endpoint
        (`bracket`, `initialLeverage`, `notionalCap`, `notionalFloor`, `maintMarginRatio`, `cum`):
        an object for `symbol`, a list of them without."""
        symbol = _query(BracketQuerySerializer, request).get("symbol")
        when = _when(request)
        with selectors.snapshot():
            etag = selectors.brackets_etag(symbol=symbol, when=when)
            if symbol is None:
                return _cached(request, etag, lambda: selectors.leverage_brackets_all(when=when))
            return _cached(request, etag, lambda: selectors.leverage_brackets(symbol=symbol, when=when))
