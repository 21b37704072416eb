from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from governance.api import views

app_name = "api"
urlpatterns = [
    path("contracts/", views.ContractList.as_view(), name="contracts"),
    path("contracts/<str:symbol>/", views.ContractDetail.as_view(), name="contract"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
