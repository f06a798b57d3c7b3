from integrations.tests.fakes import (  # noqa: F401
    live_asana,
    live_calendar,
    live_salesforce,
    no_credentials,
    platform,
    platform_server,
    sleeps,
)
from integrations.tests.faults import hang  # noqa: F401
