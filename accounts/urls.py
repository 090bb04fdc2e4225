from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import views
from heygem_site import ids  # noqa: F401  (registers the <id:...> converter)

app_name = "accounts"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html",
                                                redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(
        template_name="accounts/password_form.html",
        success_url=reverse_lazy("accounts:password_change_done")), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(
        template_name="accounts/password_done.html"), name="password_change_done"),
    path("team/switch/", views.switch_team, name="switch_team"),
    path("teams/<id:team_id>/members/", views.members, name="members"),
    path("teams/<id:team_id>/members/invite/", views.invite_member, name="invite_member"),
    path("teams/<id:team_id>/invitations/<id:invitation_id>/revoke/", views.revoke_invitation,
         name="revoke_invitation"),
    path("join/<str:token>/", views.join, name="join"),
    path("teams/<id:team_id>/members/<id:membership_id>/role/", views.change_role, name="change_role"),
    path("teams/<id:team_id>/members/<id:membership_id>/remove/", views.remove_member, name="remove_member"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<id:token_id>/revoke/", views.revoke_token, name="revoke_token"),
]
