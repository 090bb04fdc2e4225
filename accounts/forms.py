from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from accounts.models import Role


class InviteForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)
    note = forms.CharField(label=_("Who it is for (optional, only you and the other managers see it)"),
                           max_length=100, required=False)


class SignUpForm(UserCreationForm):
    """A new account made from an invitation link: the person chooses their own name and password."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=100)
