"""Sign in and out: Django's auth views, with login throttling."""

import logging

from django.contrib.auth import views as auth_views

from incidents.web import throttle
from incidents.web.forms import LoginForm

logger = logging.getLogger(__name__)


class LoginView(auth_views.LoginView):
    """Django rotates the session key and CSRF token on sign-in; this adds throttling and a 429 when locked."""

    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        return sign_in_failed(self.request, form, super().form_invalid(form))


def sign_in_failed(request, form, response):
    """Log a failed sign-in (here or in the admin); one refused during a lockout answers 429."""
    username = form.data.get("username", "")
    address = throttle.client_address(request)
    if form.throttled:
        logger.warning(
            "sign-in refused while locked out: username=%r address=%s path=%s", username, address, request.path
        )
        response.status_code = 429
    else:
        logger.info("failed sign-in: username=%r address=%s path=%s", username, address, request.path)
    return response


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default), so a link or an image cannot sign anyone out."""
