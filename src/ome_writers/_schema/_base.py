"""Shared pydantic configuration for every settings model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SettingsModel(BaseModel):
    """Base for settings models: unknown fields rejected, assignment re-validated."""

    model_config = ConfigDict(
        extra="forbid",
        validate_default=True,
        validate_assignment=True,
    )

    def __repr_args__(self):  # type: ignore[no-untyped-def]
        """Show only fields that differ from their defaults."""
        fields = type(self).model_fields
        for name, value in super().__repr_args__():
            field = fields.get(name) if name else None
            if field is not None and not field.is_required():
                default = field.get_default(call_default_factory=True)
                if value == default:
                    continue
            yield name, value
