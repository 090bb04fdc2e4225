from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.response import Response


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def me(request):
    """The signed-in user and the teams they belong to."""
    memberships = request.user.memberships.select_related("team").order_by("team__name")
    return Response({
        "username": request.user.username,
        "teams": [{"id": m.team_id, "name": m.team.name, "role": m.role} for m in memberships],
    })
