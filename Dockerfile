# The sweeper as a container: `retention schedule` as PID 1, runs nightly at 03:00 Europe/Oslo.
#
#   docker build -t retention .
#   docker run -d --name retention \
#     -e RETENTION_DATABASE_URL_FILE=/run/secrets/retention_db_url \
#     -e RETENTION_SECRET_FILE=/run/secrets/retention_secret \
#     -v /srv/retention/secrets:/run/secrets:ro \
#     retention
#
# Policies are baked in at /etc/retention/policies (RETENTION_POLICIES); mount your own over
# that directory (-v /srv/retention/policies:/etc/retention/policies:ro). A config file mounted
# at /etc/retention/retention.yaml (the working directory) is read too. See docs/scheduling.md.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src

# Dependencies in a layer of their own, rebuilt only when pyproject.toml changes: the runtime
# dependencies and both database drivers (the extras `postgres` and `mysql`).
COPY pyproject.toml ./
RUN python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; x = p["optional-dependencies"]; print("\n".join(p["dependencies"] + x["postgres"] + x["mysql"]))' > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The package itself (its dependencies are already there).
COPY README.md ./
COPY retention ./retention
RUN pip install --no-deps . \
 && rm -rf /src

COPY policies /etc/retention/policies
ENV RETENTION_POLICIES=/etc/retention/policies

# A numeric, unprivileged user (Kubernetes' runAsNonRoot can check a number, not a name); the
# passwd entry keeps database drivers that look up the local user name happy.
RUN groupadd --system --gid 10001 retention \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin retention
USER 10001:10001
WORKDIR /etc/retention

# Prometheus metrics when started with --metrics-port 9464 (or RETENTION_SCHEDULE_METRICS_PORT).
EXPOSE 9464
STOPSIGNAL SIGTERM
# Unhealthy when the scheduler's heartbeat file (/tmp/retention-heartbeat) is older than
# 5 minutes; see `retention healthcheck --help` for --max-age.
HEALTHCHECK --interval=1m --timeout=30s --start-period=1m --retries=3 \
    CMD ["retention", "healthcheck"]

# Exec form: retention is PID 1 and receives SIGTERM itself (it installs its own handlers).
ENTRYPOINT ["retention"]
CMD ["schedule"]
