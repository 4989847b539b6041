# rotator as a container: `rotator run` by default, any other subcommand as
# arguments (`docker run --rm IMAGE connection list`). See README, "Running
# in a container". Needs BuildKit (the default builder since Docker 23) for
# the RUN --mount below.
#
# Pinned by tag so a rebuild does not silently change Python; pin by digest
# too in production (--build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: rotator and every dependency as wheels -------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# Only what the wheel is built from: tests and tooling stay out of the image.
COPY pyproject.toml README.md ./
COPY rotator/ rotator/
# All dependencies ship binary wheels (cryptography, pydantic-core), so no
# compiler is needed; the final stage installs from /wheels alone.
RUN pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /wheels .

# --- final: a venv, a non-root user, a state volume ------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="rotator" \
      org.opencontainers.image.description="Validates and audits DigitalOcean API tokens, rotates Spaces keys into App Platform and Vault, alerts operators." \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed UID/GID so volumes and secret files can be chowned ahead of time
# (chown 10001:10001) and Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 rotator \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/rotator --shell /usr/sbin/nologin rotator \
 && install -d -m 0700 -o 10001 -g 10001 /var/lib/rotator \
 && install -d -m 0755 /etc/rotator

# Installed offline from the build stage's wheels, which are mounted for
# this step only and never land in a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/rotator \
 && /opt/rotator/bin/pip install --no-cache-dir --disable-pip-version-check \
        --no-index --find-links=/wheels rotator

# No secret here: the master key comes at run time, either as a file
# (-e ROTATOR_MASTER_KEY_FILE=/run/secrets/rotator-master-key, mode 0400 or
# 0600, owned by 10001) or as ROTATOR_MASTER_KEY. Setting both is an error,
# so neither has a default; with neither, `rotator init` keeps a key file
# in the state volume.
# No ROTATOR_CONFIG: rotator reads /etc/rotator/rotator.toml when one is mounted.
ENV PATH=/opt/rotator/bin:$PATH \
    ROTATOR_STATE_DIR=/var/lib/rotator

VOLUME ["/var/lib/rotator"]
WORKDIR /var/lib/rotator
USER 10001:10001

# rotator finishes the current step, persists and exits within 10 seconds;
# give `docker stop` a little more than its default 10 (--stop-timeout 15).
STOPSIGNAL SIGTERM

# The daemon's /healthz on the loopback listener set in the config above.
# Standard library only: the image has no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4).status != 200)"]

ENTRYPOINT ["rotator"]
# The health listener is on the command line, so a mounted config cannot
# switch off what the HEALTHCHECK probes.
CMD ["run", "--health-listen", "127.0.0.1:9464"]
