from integrations.tests.faults import hang  # noqa: F401
from leads.tests.sheets_fake import sheet, sheets_server  # noqa: F401
