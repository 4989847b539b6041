# rotator as a container: `rotator run` by default, any other subcommand as
# arguments (`docker run --rm IMAGE connection list`). See README, "Running
# in a container". Builds with BuildKit and with the legacy builder
# (DOCKER_BUILDKIT=0): no RUN --mount, no heredocs, no `# syntax=` line.
#
# Pinned by tag so a rebuild does not silently change Python; pin by digest
# too in production (--build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: a venv with rotator and its locked dependencies ----------------
FROM ${PYTHON_IMAGE} AS build

# A package index of your own (a mirror or proxy) and, for a proxy that
# re-signs TLS, its CA certificate as PEM text:
#   --build-arg PIP_INDEX_URL=https://pypi.example.internal/simple
#   --build-arg EXTRA_CA_CERT="$(cat corp-ca.pem)"
# pip reads PIP_INDEX_URL and PIP_EXTRA_INDEX_URL from the environment; unset
# or empty, it uses its default index. These exist in this stage only: the
# final image has none of its layers, and no ARG below is declared there.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG EXTRA_CA_CERT=""
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN if [ -n "$EXTRA_CA_CERT" ]; then \
        printf '%s\n' "$EXTRA_CA_CERT" > /usr/local/share/ca-certificates/rotator-build-extra.crt \
     && update-ca-certificates; \
    fi

WORKDIR /src
# Only what the venv is built from: tests and tooling stay out of the image.
COPY requirements/ requirements/
# The build backend, hash-pinned (requirements/build.txt), in a venv of its
# own that stays in this stage.
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps -r requirements/build.txt

# The runtime venv has no pip, setuptools or wheel (--without-pip); the build
# venv's pip installs into it. Every dependency comes from the hash-pinned
# lock (requirements/runtime.txt) and nothing else: --no-deps, so a
# dependency missing from the lock fails the import test below, not silently.
RUN python -m venv --without-pip /opt/rotator \
 && /opt/build/bin/pip --python /opt/rotator/bin/python install \
        --require-hashes --no-deps -r requirements/runtime.txt

COPY pyproject.toml README.md LICENSE ./
COPY rotator/ rotator/
# rotator itself, built offline with the pinned backend, then checked: its
# dependencies are all there and nothing can install more.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && /opt/build/bin/pip --python /opt/rotator/bin/python install \
        --no-deps --no-index /wheels/*.whl \
 && /opt/rotator/bin/rotator --version \
 && /opt/rotator/bin/python -c "import rotator.cli, rotator.sandbox, cryptography, hvac, httpx, pydantic_settings, schedule" \
 && ! /opt/rotator/bin/python -c "import pip" 2>/dev/null \
 && ! /opt/rotator/bin/python -c "import setuptools" 2>/dev/null

# --- final: the venv, a non-root user, a state volume ----------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="rotator" \
      org.opencontainers.image.description="Validates and audits DigitalOcean API tokens, rotates Spaces keys into App Platform and Vault, alerts operators." \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed UID/GID so volumes and secret files can be chowned ahead of time
# (chown 10001:10001) and Kubernetes' runAsNonRoot can check it. The base
# image's own pip, setuptools and wheel go too: nothing in the running image
# can install a package.
RUN groupadd --system --gid 10001 rotator \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/rotator --shell /usr/sbin/nologin rotator \
 && install -d -m 0700 -o 10001 -g 10001 /var/lib/rotator \
 && install -d -m 0755 /etc/rotator \
 && PIP_ROOT_USER_ACTION=ignore python -m pip uninstall --yes --disable-pip-version-check \
        pip setuptools wheel \
 && ! python -c "import pip" 2>/dev/null

COPY --from=build /opt/rotator /opt/rotator

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

# The health listener (see CMD) answers on every interface of the
# container, loopback included; the probe uses loopback.
# Standard library only: the image has no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4).status != 200)"]

EXPOSE 9464
ENTRYPOINT ["rotator"]
# The health listener is on the command line, so a mounted config cannot
# switch off what the HEALTHCHECK probes. 0.0.0.0 is the container's own
# network namespace (its pod's interface under Kubernetes), so a published
# port, a kubelet probe or a Prometheus scrape reaches it; it serves only
# /healthz, /readyz and /metrics, never a secret. See README.
CMD ["run", "--health-listen", "0.0.0.0:9464", "--health-public"]
