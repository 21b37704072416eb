"""Pages of list responses: `?page=N&page_size=M` (at most 1000), with count and links."""
from typing import Any

from rest_framework.pagination import PageNumberPagination


class DocumentedBounds:
    """Says in the schema what the pagination accepts: integers from 1, page sizes up to the
    maximum, so that a generated request within the schema is one the API accepts."""

    max_page_size: int

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
