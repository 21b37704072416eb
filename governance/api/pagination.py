"""Pages of list responses: `?page=N&page_size=M` (at most 1000), with count and links."""
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


def _whole_from_1(raw: str) -> int:
    """A query parameter's whole number from 1, or 0 for anything else (ASCII digits only)."""
    return int(raw) if raw.isascii() and raw.isdigit() else 0


class DocumentedBounds:
    """What the pagination accepts: integers from 1, page sizes up to the maximum. Said in the
    schema, so that a generated request within it is one the API accepts, and enforced: a page
    size out of bounds is a 400, not silently replaced."""

    page_size: int
    page_size_query_param: str
    max_page_size: int

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = _whole_from_1(raw)
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"must be an integer from 1 to {self.max_page_size}"]})
        return size

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["schema"].get("type") == "integer":
                parameter["schema"]["minimum"] = 1
                if parameter["name"] == "page_size":
                    parameter["schema"]["maximum"] = self.max_page_size
        return parameters


class Pages(DocumentedBounds, PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000
    invalid_page_message = "no page {page_number}: {message}"

    def paginate_queryset(self, queryset, request: Request, view: Any = None):
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and raw != "last" and _whole_from_1(raw) < 1:  # DRF reads "last" as the last page
            raise ValidationError({self.page_query_param: ["must be an integer from 1"]})
        return super().paginate_queryset(queryset, request, view)
