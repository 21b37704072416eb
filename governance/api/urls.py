from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from governance.api import auth, positions, proposals, views

app_name = "api"
urlpatterns = [
    path("contracts/", views.ContractList.as_view(), name="contracts"),
    path("contracts/<str:symbol>/", views.ContractDetail.as_view(), name="contract"),
    path("contracts/<str:symbol>/versions/", views.VersionList.as_view(), name="contract-versions"),
    path("contracts/<str:symbol>/versions/<int:number>/", views.VersionDetail.as_view(), name="contract-version"),
    path("contracts/<str:symbol>/diff/", views.VersionDiff.as_view(), name="contract-diff"),
    path("exchange/", views.ExchangeDetail.as_view(), name="exchange"),
    path("exchange/versions/", views.VersionList.as_view(exchange=True), name="exchange-versions"),
    path("exchange/versions/<int:number>/", views.VersionDetail.as_view(exchange=True), name="exchange-version"),
    path("exchange/diff/", views.VersionDiff.as_view(exchange=True), name="exchange-diff"),
    path("schedule/", views.Schedule.as_view(), name="schedule"),
    path("compat/leverage-bracket/", views.LeverageBrackets.as_view(), name="leverage-brackets"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    *auth.urlpatterns,
    *proposals.urlpatterns,
    *positions.urlpatterns,
]
