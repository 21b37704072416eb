from django.urls import path, register_converter

from governance.api import auth, positions, proposals, views
from governance.api.docs import DocsView, SchemaView


class SymbolConverter:
    """A contract symbol in a path: any text but a slash or a NUL, which PostgreSQL text cannot
    hold (it would fail the lookup with a 500); an unknown symbol is the view's 404."""

    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SymbolConverter, "symbol")

app_name = "api"
urlpatterns = [
    path("contracts/", views.ContractList.as_view(), name="contracts"),
    path("contracts/<symbol:symbol>/", views.ContractDetail.as_view(), name="contract"),
    path("contracts/<symbol:symbol>/versions/", views.VersionList.as_view(), name="contract-versions"),
    path("contracts/<symbol:symbol>/versions/<int:number>/", views.VersionDetail.as_view(), name="contract-version"),
    path("contracts/<symbol:symbol>/diff/", views.VersionDiff.as_view(), name="contract-diff"),
    path("exchange/", views.ExchangeDetail.as_view(), name="exchange"),
    path("exchange/versions/", views.VersionList.as_view(exchange=True), name="exchange-versions"),
    path("exchange/versions/<int:number>/", views.VersionDetail.as_view(exchange=True), name="exchange-version"),
    path("exchange/diff/", views.VersionDiff.as_view(exchange=True), name="exchange-diff"),
    path("schedule/", views.Schedule.as_view(), name="schedule"),
    path("compat/leverage-bracket/", views.LeverageBrackets.as_view(), name="leverage-brackets"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
    *auth.urlpatterns,
    *proposals.urlpatterns,
    *positions.urlpatterns,
]
