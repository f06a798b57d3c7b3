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
from integrations.tests.oauth_consent_fake import oauth_fake, oauth_server  # noqa: F401
