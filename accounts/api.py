from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from accounts.models import Role


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    teams = inline_serializer("MyTeam", many=True, fields={
        "id": serializers.IntegerField(), "name": serializers.CharField(), "role": serializers.ChoiceField(Role.choices)})


@extend_schema(responses=MeSerializer, operation_id="me_retrieve")
@api_view(["GET"])
def me(request):
    """The signed-in user and the teams they belong to."""
    memberships = request.user.memberships.select_related("team").order_by("team__name")
    return Response({
        "username": request.user.username,
        "teams": [{"id": m.team_id, "name": m.team.name, "role": m.role} for m in memberships],
    })
