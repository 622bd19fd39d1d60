# syntax=docker/dockerfile:1
# One image for tradewire's store, metrics and alerts services (compose/docker-compose.yml):
#   docker build -t tradewire:0.1.0 .
#   docker run --rm tradewire:0.1.0 serve metrics --nats-url nats://nats:4222
# Build stage: uv installs the locked runtime dependencies and the three workspace
# packages as wheels into /opt/tradewire (no dev tools, no sources, no uv in the result).
FROM python:3.12-slim-bookworm AS build
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_PROJECT_ENVIRONMENT=/opt/tradewire UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY schemas schemas
COPY publishers publishers
COPY consumers consumers
RUN uv sync --frozen --no-dev --package tradewire --no-editable --compile-bytecode

# Run stage: the virtualenv only, as an unprivileged user.
FROM python:3.12-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /var/lib/tradewire --create-home tradewire
COPY --from=build /opt/tradewire /opt/tradewire
ENV PATH=/opt/tradewire/bin:$PATH PYTHONUNBUFFERED=1
USER tradewire
WORKDIR /var/lib/tradewire
EXPOSE 8201 8202 8203
ENTRYPOINT ["tradewire"]
CMD ["--help"]
