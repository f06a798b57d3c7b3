from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from sponsors.models import Sponsor


class SponsorForm(forms.ModelForm):
    """The sponsor and its platform mappings; saving goes through sponsors.services."""

    class Meta:
        model = Sponsor
        fields = [
            "name",
            "contact_email",
            "salesforce_account_id",
            "asana_project_gid",
            "google_calendar_id",
            "owner",
            "is_active",
        ]
        labels = {"is_active": "Pull this sponsor's tasks on the schedule"}
        help_texts = {
            "salesforce_account_id": "The Account's 15 or 18 character id (starts with 001), from its Salesforce URL.",
            "asana_project_gid": "The number in the project's Asana URL (app.asana.com/0/<gid>/…).",
            "google_calendar_id": "Calendar settings → Integrate calendar → Calendar ID.",
            "is_active": "Inactive sponsors keep their tasks but are not pulled every minute.",
        }
        widgets = {
            "name": forms.TextInput(attrs={"autocomplete": "organization", "autofocus": True}),
            "contact_email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "salesforce_account_id": forms.TextInput(attrs={"spellcheck": "false", "placeholder": "001…"}),
            "asana_project_gid": forms.TextInput(attrs={"inputmode": "numeric", "spellcheck": "false"}),
            "google_calendar_id": forms.TextInput(attrs={"spellcheck": "false"}),
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        owner.queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        owner.empty_label = "No owner"
        owner.label_from_instance = lambda user: user.get_full_name() or user.get_username()
        for name, field in self.fields.items():
            css = "form-check-input" if name == "is_active" else "form-control"
            field.widget.attrs["class"] = "form-select" if name == "owner" else css

    def validate_unique(self) -> None:
        # Name uniqueness is checked case-insensitively by the service (SponsorNameTaken).
        pass

    def service_values(self) -> dict[str, object]:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}
