from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person who signs in. Custom from the first migration so fields can be added later."""


class Team(models.Model):
    """The tenant: every asset, job and output belongs to one team."""

    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    MEMBER = "member", _("Member")


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_user_and_team")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_manage_members(self):
        return self.role in (Role.OWNER, Role.ADMIN)


class Invitation(models.Model):
    """A link that lets whoever holds it join a team once, by signing in (or making an account) and
    accepting. Nobody is added to a team without saying yes, and a team's managers never type, and so
    never learn, another person's user name. Only a SHA-256 of the link's token is stored."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    note = models.CharField(_("note"), max_length=100, blank=True,
                            help_text=_("Who it is for, to recognise it in the list (only the team's managers see it)."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self):
        return f"Invitation to {self.team} as {self.role}"


class Quota(models.Model):
    """Per-team limits and retention. Limits are checked and reserved atomically when a job is
    created; retention is applied by the periodic sweep. An empty retention field means the site
    default (settings.RETENTION_*)."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="quota")
    storage_bytes = models.PositiveBigIntegerField(_("storage limit (bytes)"))
    concurrent_jobs = models.PositiveIntegerField(_("concurrent jobs"))
    monthly_minutes = models.PositiveIntegerField(_("generated minutes per month"))
    keep_outputs_days = models.PositiveIntegerField(_("keep outputs (days)"), null=True, blank=True,
                                                    help_text=_("Empty: the site default."))
    keep_uploads_days = models.PositiveIntegerField(_("keep uploads (days)"), null=True, blank=True,
                                                    help_text=_("Empty: the site default."))
    user_storage_gb = models.PositiveIntegerField(_("storage per user (GB)"), null=True, blank=True,
                                                  help_text=_("Oldest videos go first. Empty: the site default; "
                                                              "0: no limit."))

    def retention(self):
        """(output days, upload days, bytes per user or None) with the site defaults filled in."""
        pick = lambda value, default: default if value is None else value  # noqa: E731
        per_user_gb = pick(self.user_storage_gb, settings.RETENTION_USER_STORAGE_GB)
        return (pick(self.keep_outputs_days, settings.RETENTION_OUTPUT_DAYS),
                pick(self.keep_uploads_days, settings.RETENTION_UPLOAD_DAYS),
                per_user_gb * 1024**3 if per_user_gb else None)

    class Meta:
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")

    def __str__(self):
        return f"Quota of {self.team}"


class ApiToken(models.Model):
    """A named token for the REST API. Only a SHA-256 of the token is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, help_text=_("The first characters, to tell tokens apart."))
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"
