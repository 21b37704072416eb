"""Token login and logout: knox's views, taking a username and password instead of a session.

A knox token is stored hashed (only its digest and first characters), expires after
REST_KNOX TOKEN_TTL, and is revoked by logout (the token presented) or logoutall (every token
of the user).
"""
from __future__ import annotations

from django.contrib.auth import authenticate
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox import views as knox_views
from knox.settings import knox_settings
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.bodies import StrictSerializer, body_valid
from governance.api.tokens import TokenAuthentication, tokens_forget
from governance.api.serializers import error_responses


class LoginSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    # bounded: every attempt hashes the password, and a huge one is a cheap way to burn CPU
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True,
                                     style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`; it is shown only once.")
    expiry = serializers.DateTimeField(allow_null=True)


class LoginView(knox_views.LoginView):
    # Credentials come in the body: a stale token or a session must not stand in the way.
    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get_authenticate_header(self, request: Request) -> str:
        return knox_settings.AUTH_HEADER_PREFIX  # without one, DRF turns the 401 into a 403

    @extend_schema(request=LoginSerializer, responses={200: TokenSerializer, **error_responses(400, 401, 415, 429)})
    def post(self, request: Request, format: str | None = None) -> Response:
        """Exchange a username and password for a new token with an expiry."""
        body = body_valid(LoginSerializer, request)
        user = authenticate(request._request, username=body["username"], password=body["password"])
        if user is None:  # also an inactive user: ModelBackend refuses them
            raise AuthenticationFailed("invalid username or password")
        request.user = user
        return super().post(request, format)


REVOKED = {204: OpenApiResponse(description="Revoked; no body."), **error_responses(401, 429)}


@extend_schema(request=None, responses=REVOKED)
class LogoutView(knox_views.LogoutView):
    """Revoke the token this request presents (sessions are not accepted here)."""

    authentication_classes = (TokenAuthentication,)

    def post(self, request: Request, format: str | None = None) -> Response:
        response = super().post(request, format)
        tokens_forget()  # deleted (committed): this process at once, the others on the notification
        return response


@extend_schema(request=None, responses=REVOKED)
class LogoutAllView(knox_views.LogoutAllView):
    """Revoke every token of the user presenting this one."""

    authentication_classes = (TokenAuthentication,)

    def post(self, request: Request, format: str | None = None) -> Response:
        response = super().post(request, format)
        tokens_forget()
        return response


urlpatterns = [
    path("auth/login/", LoginView.as_view(), name="login"),
    path("auth/logout/", LogoutView.as_view(), name="logout"),
    path("auth/logoutall/", LogoutAllView.as_view(), name="logoutall"),
]
