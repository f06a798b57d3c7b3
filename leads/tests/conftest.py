from leads.tests.sheets_fake import sheet, sheets_server  # noqa: F401
