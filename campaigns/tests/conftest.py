from campaigns.tests.fakes import (  # noqa: F401
    live_google_ads,
    live_meta,
    live_tiktok,
    no_ad_credentials,
)
from integrations.tests.fakes import platform, platform_server, sleeps  # noqa: F401
from integrations.tests.faults import hang  # noqa: F401
