"""Committee UI URLs (login/logout from django.contrib.auth)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from riskgov.web import audit_views, change_views, margin_views, policy_views, views
from riskgov.web import governance_views as gv

urlpatterns = [
    path("", views.home, name="home"),
    path("parameters/", views.parameters, name="parameters"),
    path("parameters/versions/<int:pk>/", views.market_version, name="market-version"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # governance
    path("proposals/", gv.proposals_inbox, name="proposals"),
    path("proposals/new/", change_views.proposal_new, name="proposal-new"),
    path("proposals/emergency/", change_views.emergency_new, name="emergency-new"),
    path("proposals/<int:pk>/", gv.proposal_detail, name="proposal-detail"),
    path("proposals/<int:pk>/edit/", change_views.proposal_edit, name="proposal-edit"),
    path("proposals/<int:pk>/submit/", gv.proposal_submit, name="proposal-submit"),
    path("proposals/<int:pk>/withdraw/", gv.proposal_withdraw, name="proposal-withdraw"),
    path("proposals/<int:pk>/vote/", gv.proposal_vote, name="proposal-vote"),
    path("proposals/<int:pk>/impact-status/", gv.proposal_impact_status, name="proposal-impact-status"),
    path(
        "proposals/<int:pk>/impact/frontier.csv", gv.proposal_impact_frontier_csv, name="proposal-impact-frontier-csv"
    ),
    path("policy/", policy_views.policy_page, name="policy"),
    path("audit/", audit_views.audit_log, name="audit"),
    path("audit/export.csv", audit_views.audit_export, name="audit-export"),
    path("margin/simulator/", margin_views.margin_simulator, name="margin-simulator"),
    path("margin/pm-versions/<int:pk>/", margin_views.pm_version, name="pm-version"),
]
