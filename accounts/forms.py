"""Dashboard forms for the account page and the audit log, plus the Bootstrap widget styling
shared by every dashboard form."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import AuditEvent


class BootstrapMixin:
    """Give every widget Bootstrap's classes; mark invalid fields for screen readers too."""

    def _style_widgets(self) -> None:
        errors = self._errors or {}  # type: ignore[attr-defined]
        for name, field in self.fields.items():  # type: ignore[attr-defined]
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            if name in errors:
                widget.attrs.update(
                    {
                        "class": f"{css} is-invalid",
                        "aria-invalid": "true",
                        "aria-describedby": f"{self.auto_id % name}-errors",  # type: ignore[attr-defined]
                    }
                )
            else:
                widget.attrs["class"] = css
                widget.attrs.pop("aria-invalid", None)
                widget.attrs.pop("aria-describedby", None)

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        self._style_widgets()


class ApiKeyCreateForm(BootstrapMixin, forms.Form):
    name = forms.CharField(
        label="Key name",
        max_length=100,
        help_text="Something to recognise the key by, e.g. the script or machine that uses it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._style_widgets()
        self.fields["name"].widget.attrs.update({"placeholder": "e.g. reporting script", "autocomplete": "off"})


class AuditFilterForm(BootstrapMixin, forms.Form):
    """Filters of the audit page; the action and object-type choices come from the data."""

    action = forms.ChoiceField(label="Action", required=False)
    origin = forms.ChoiceField(label="Origin", choices=[("", "Any"), *AuditEvent.Origin.choices], required=False)
    actor = forms.CharField(label="Who", max_length=200, required=False)
    object_type = forms.ChoiceField(label="Object type", required=False)

    def __init__(self, *args: Any, actions: list[str], object_types: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any"), *((a, a) for a in actions)]
        self.fields["object_type"].choices = [("", "Any"), *((t, t) for t in object_types)]
        self.fields["actor"].widget.attrs["placeholder"] = "User name, key or job"
        self._style_widgets()

    def filter_kwargs(self) -> dict[str, str | None]:
        """Keyword arguments for selectors.audit_event_list from the fields that validated."""
        data = getattr(self, "cleaned_data", {})
        return {name: (data.get(name) or "").strip() or None for name in ("action", "origin", "actor", "object_type")}
