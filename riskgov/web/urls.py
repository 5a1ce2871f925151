"""Committee UI URLs (login/logout from django.contrib.auth)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from riskgov.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("parameters/", views.parameters, name="parameters"),
    path("parameters/versions/<int:pk>/", views.market_version, name="market-version"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
