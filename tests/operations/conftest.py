from tests.attachments.conftest import storage_env  # noqa: F401 (fixture: the app on Azurite)
