# Orion Ops: one image for web (gunicorn), the Celery worker, beat and migrations.
# The default command serves HTTP; docker-compose.yml overrides it per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=orion_ops.settings

# Non-root runtime user. Its home holds gunicorn's control socket
# ($HOME/.gunicorn/gunicorn.ctl), so it has to exist and be writable.
RUN groupadd --system --gid 10001 orion \
    && useradd --system --uid 10001 --gid orion --create-home --home-dir /home/orion \
        --shell /usr/sbin/nologin orion

WORKDIR /app

# Dependencies first so that code changes do not invalidate this layer.
COPY requirements/base.txt requirements/base.txt
RUN pip install -r requirements/base.txt

# Code stays owned by root (read-only for the app); only var/ is writable.
COPY . .
RUN python -m compileall -q . \
    && mkdir -p /app/var && chown orion:orion /app/var

USER orion

# Static files are baked into the image and served by whitenoise. The key below
# exists only for this build step; it is not kept in the image's environment.
RUN SECRET_KEY=collectstatic-build-only DEBUG=0 HTTPS=0 \
    python manage.py collectstatic --noinput

EXPOSE 8000

CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "orion_ops.wsgi:application"]
