from __future__ import annotations

import factory

from integrations.tests.fakes import ACCOUNT, CALENDAR, PROJECT
from sponsors.models import Sponsor


class SponsorFactory(factory.django.DjangoModelFactory):
    """A sponsor mapped to the fake platforms' account, project and calendar."""

    class Meta:
        model = Sponsor

    name = factory.Sequence(lambda n: f"Sponsor {n}")
    contact_email = factory.Sequence(lambda n: f"contact{n}@example.com")
    salesforce_account_id = ACCOUNT
    asana_project_gid = PROJECT
    google_calendar_id = CALENDAR
