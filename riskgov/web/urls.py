"""Committee UI URLs (login/logout from django.contrib.auth)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from riskgov.web import governance_views as gv
from riskgov.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("parameters/", views.parameters, name="parameters"),
    path("parameters/versions/<int:pk>/", views.market_version, name="market-version"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # governance
    path("proposals/", gv.proposals_inbox, name="proposals"),
    path("proposals/new/", gv.proposal_new, name="proposal-new"),
    path("proposals/emergency/", gv.emergency_new, name="emergency-new"),
    path("proposals/<int:pk>/", gv.proposal_detail, name="proposal-detail"),
    path("proposals/<int:pk>/edit/", gv.proposal_edit, name="proposal-edit"),
    path("proposals/<int:pk>/submit/", gv.proposal_submit, name="proposal-submit"),
    path("proposals/<int:pk>/withdraw/", gv.proposal_withdraw, name="proposal-withdraw"),
    path("proposals/<int:pk>/vote/", gv.proposal_vote, name="proposal-vote"),
    path("policy/", gv.policy_page, name="policy"),
    path("audit/", gv.audit_log, name="audit"),
    path("audit/export.csv", gv.audit_export, name="audit-export"),
]
