"""Read endpoints of the parameters in force. Thin: a selector builds the body; the ETag is
computed first from the content hashes the body is built from, so a 304 builds nothing."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import selectors
from governance.api.permissions import CanRead
from governance.api.serializers import ContractParametersSerializer, ContractSummarySerializer, ErrorSerializer

ERRORS = {401: OpenApiResponse(ErrorSerializer), 403: OpenApiResponse(ErrorSerializer),
          404: OpenApiResponse(ErrorSerializer)}


def _cached(request: Request, etag: str, build) -> Response:
    quoted = f'"{etag}"'
    if quoted in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = Response(status=304)
    else:
        response = Response(build())
    response["ETag"] = quoted
    return response


class ContractList(APIView):
    permission_classes = [CanRead]

    @extend_schema(responses={200: ContractSummarySerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        """Every contract with its active version."""
        with selectors.snapshot():
            etag = selectors.contracts_etag()
            return _cached(request, etag, selectors.contracts_active)


class ContractDetail(APIView):
    permission_classes = [CanRead]

    @extend_schema(responses={200: ContractParametersSerializer, **ERRORS})
    def get(self, request: Request, symbol: str) -> Response:
        """One contract's parameters in force, with the derived values: maintenance amounts per
        tier, the effective multiplier and volatility band, the margin-call threshold."""
        with selectors.snapshot():
            etag = selectors.contract_etag(symbol=symbol)
            return _cached(request, etag, lambda: selectors.contract_parameters(symbol=symbol))
