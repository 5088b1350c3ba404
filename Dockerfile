# Orion Ops: one image for web (gunicorn), the Celery worker, beat and migrations.
# The default command serves HTTP; docker-compose.yml and deploy/kubernetes/ override it per process.
#
# Two stages: "build" installs the pinned dependencies into a virtualenv and collects the
# static files; the runtime stage copies only those, and runs as uid 10001 on a root
# filesystem that may be mounted read-only (only /app/var needs to be writable).

FROM python:3.11-slim AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
# Dependencies first so that code changes do not invalidate this layer.
COPY requirements/base.txt /tmp/requirements/base.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements/base.txt

WORKDIR /app
COPY . .
# Static files are baked into the image (served by whitenoise), outside var/. The key below
# exists only for this step; it is not kept in the image's environment.
RUN /opt/venv/bin/python -m compileall -q orion_ops incidents diagnostics \
    && SECRET_KEY=collectstatic-build-only DEBUG=0 HTTPS=0 ORION_VAR_DIR=/tmp/build-var STATIC_ROOT=/app/static \
       /opt/venv/bin/python manage.py collectstatic --noinput -v0 \
    && rm -rf /tmp/build-var


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=orion_ops.settings \
    ORION_VAR_DIR=/app/var \
    STATIC_ROOT=/app/static

# Non-root runtime user. Its home holds gunicorn's control socket
# ($HOME/.gunicorn/gunicorn.ctl), so it has to exist and be writable.
RUN groupadd --system --gid 10001 orion \
    && useradd --system --uid 10001 --gid orion --create-home --home-dir /home/orion \
        --shell /usr/sbin/nologin orion

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Code and static files stay owned by root (read-only for the app); only var/ is writable.
COPY --from=build /app /app
RUN mkdir -p /app/var && chown orion:orion /app/var

USER 10001:10001

EXPOSE 8000

CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "orion_ops.wsgi:application"]
