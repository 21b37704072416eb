"""The schema and its interactive page (drf-spectacular), public as documentation is, with
their errors in the API's one JSON shape: on success they render YAML or HTML, and DRF would
render an error (a 406 for an Accept they cannot serve, say) the same way."""
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response


class _ErrorsAsJson:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.status_code >= 400:
            response.accepted_renderer, response.accepted_media_type = JSONRenderer(), "application/json"
        return response


class SchemaView(_ErrorsAsJson, SpectacularAPIView):
    pass


class DocsView(_ErrorsAsJson, SpectacularSwaggerView):
    pass
