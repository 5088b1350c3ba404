import pytest

from tests.paging.receivers import HttpReceiver, RecordingSmtp, smtp_server


@pytest.fixture
def receiver():
    r = HttpReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def smtp(settings):
    handler = RecordingSmtp(refuse={"nobody@example.com"})
    controller = smtp_server(handler)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
    settings.EMAIL_USE_TLS = False
    yield handler
    controller.stop()


@pytest.fixture
def signing(settings):
    settings.WEBHOOK_SIGNING_SECRETS = ["old-secret-0123", "new-secret-4567"]
    settings.ORION_BASE_URL = "https://orion.example.com"
    return settings.WEBHOOK_SIGNING_SECRETS
