"""GET /healthz: a constant JSON body from a bare Django view (no DRF, no database), for load
balancers and as the floor the API benchmark compares against."""
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
