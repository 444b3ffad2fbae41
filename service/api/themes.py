"""The theme vocabulary of thematic twinning."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from domain.values import THEMES
from service.api.request import Blueprint, public
from service.api.schemas import ThemeListSchema

blp = Blueprint("themes", __name__, url_prefix="/api/v1/themes", description="Theme vocabulary.")


@blp.route("")
@public
class Themes(MethodView):
    @blp.response(200, ThemeListSchema)
    def get(self) -> dict[str, Any]:
        """The themes an initiative may name (readable without an account)."""
        return {"items": [{"id": key, "label": label} for key, label in THEMES.items()]}
