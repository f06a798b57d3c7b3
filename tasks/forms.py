"""Dashboard forms for tasks: the list filters (GET) and the create/edit form."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.forms import BootstrapMixin
from leads.models import Lead
from sponsors.models import Sponsor
from tasks.enrichment import external_ref_clean
from tasks.models import Task
from tasks.selectors import TaskFilters

# The orders the list page offers (a subset of selectors.ORDERINGS), with their labels.
ORDER_CHOICES = [
    ("position", "Board order"),
    ("due_at", "Due date (soonest first)"),
    ("-due_at", "Due date (latest first)"),
    ("priority", "Priority (high first)"),
    ("-updated_at", "Recently updated"),
    ("title", "Title (A–Z)"),
    ("-created_at", "Newest first"),
]

BLANK = [("", "Any")]


def _start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class TaskFilterForm(BootstrapMixin, forms.Form):
    """The list page's filters, named as the API's query parameters."""

    q = forms.CharField(label="Search", max_length=200, required=False)
    status = forms.ChoiceField(label="Status", choices=BLANK + list(Task.Status.choices), required=False)
    priority = forms.ChoiceField(label="Priority", choices=BLANK + list(Task.Priority.choices), required=False)
    source = forms.ChoiceField(label="Source", choices=BLANK + list(Task.Source.choices), required=False)
    sponsor_id = forms.ModelChoiceField(
        label="Sponsor", queryset=Sponsor.objects.order_by("name"), required=False, empty_label="Any"
    )
    lead_id = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False, widget=forms.HiddenInput)
    due_after = forms.DateField(
        label="Due from", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    due_before = forms.DateField(
        label="Due before",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Tasks due before the start of this day.",
    )
    overdue = forms.ChoiceField(
        label="Overdue",
        choices=[("", "Any"), ("true", "Only overdue"), ("false", "Not overdue")],
        required=False,
    )
    order = forms.ChoiceField(label="Sort by", choices=ORDER_CHOICES, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._style_widgets()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        after, before = data.get("due_after"), data.get("due_before")
        if after and before and after >= before:
            self.add_error("due_before", "“Due before” must be after “Due from”.")
        return data

    def to_filters(self) -> TaskFilters:
        """The filters from the fields that validated (a bad field is reported and ignored)."""
        data = getattr(self, "cleaned_data", {})
        overdue = {"true": True, "false": False}.get(data.get("overdue") or "")
        sponsor = data.get("sponsor_id")
        return TaskFilters(
            status=data.get("status") or None,
            priority=data.get("priority") or None,
            source=data.get("source") or None,
            sponsor_id=sponsor.pk if sponsor else None,
            lead_id=data.get("lead_id"),
            due_before=_start_of_day(data["due_before"]) if data.get("due_before") else None,
            due_after=_start_of_day(data["due_after"]) if data.get("due_after") else None,
            overdue=overdue,
            q=(data.get("q") or "").strip() or None,
            order=data.get("order") or "position",
        )


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        full_name = obj.get_full_name()
        return f"{full_name} ({obj.username})" if full_name else obj.username


class TaskForm(BootstrapMixin, forms.Form):
    """Create or edit a task; saving goes through tasks.services (which validates again)."""

    title = forms.CharField(label="Title", max_length=255)
    description = forms.CharField(
        label="Description", required=False, strip=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    status = forms.ChoiceField(label="Status", choices=Task.Status.choices, initial=Task.Status.TODO)
    priority = forms.ChoiceField(label="Priority", choices=Task.Priority.choices, initial=Task.Priority.MEDIUM)
    due_at = forms.DateTimeField(
        label="Due",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=f"Date and time ({timezone.get_default_timezone_name()}). Leave empty for no due date.",
    )
    sponsor = forms.ModelChoiceField(
        label="Sponsor", queryset=Sponsor.objects.order_by("name"), required=False, empty_label="No sponsor"
    )
    lead = forms.ModelChoiceField(
        label="Lead", queryset=Lead.objects.order_by("sheet_id"), required=False, empty_label="No lead"
    )
    assignee = UserChoiceField(
        label="Assignee",
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label="Unassigned",
    )
    notes = forms.CharField(label="Notes", required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))
    external_ref = forms.CharField(
        label="External reference",
        required=False,
        max_length=100,
        help_text="Id of the matching item in the external system; its data is fetched and shown on the task.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._style_widgets()
        self.fields["title"].widget.attrs["autofocus"] = True

    def clean_description(self) -> str:
        # Browsers send textarea line breaks as CRLF; store them as the API does, with LF.
        return self.cleaned_data["description"].replace("\r\n", "\n")

    def clean_notes(self) -> str:
        return self.cleaned_data["notes"].replace("\r\n", "\n")

    def clean_external_ref(self) -> str:
        try:
            return external_ref_clean(self.cleaned_data["external_ref"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    @staticmethod
    def initial_from(task: Task) -> dict[str, Any]:
        return {
            "title": task.title,
            "description": task.description,
            "status": task.status,
            "priority": task.priority,
            "due_at": task.due_at,
            "sponsor": task.sponsor_id,
            "lead": task.lead_id,
            "assignee": task.assignee_id,
            "notes": task.notes,
            "external_ref": task.external_ref,
        }

    def add_service_error(self, error: ValidationError) -> None:
        """Show a service's ValidationError on the matching fields (others at the top)."""
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        else:
            self.add_error(None, error.messages)
        self._style_widgets()


class TaskMoveForm(forms.Form):
    """A board move: the neighbours the task lands between, and its column (all optional)."""

    after_id = forms.UUIDField(required=False)
    before_id = forms.UUIDField(required=False)
    status = forms.ChoiceField(choices=Task.Status.choices, required=False)
