# fedot's image: its ClientApp and ServerApp with their dependencies and Flower's executables
# (flower-supernode, flower-superexec, flwr). docker-compose.yml runs the SuperNodes, the
# SuperLink's ServerApp executor and the Fleet proxy (nginx) from it; the SuperLink itself runs
# on Flower's own image.
#
#   docker build -t fedot:0.1.0 .                                   # CPU torch (the default)
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 -t fedot:0.1.0 .
#
# The code that runs a federation arrives with each `flwr run` (Flower ships the app to the
# SuperLink and the SuperNodes); this image provides the Python packages it imports.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/app \
    FEDOT_DATA_DIR=/app/data \
    FLWR_TELEMETRY_ENABLED=0 \
    FLWR_DISABLE_UPDATE_CHECK=1

# openssl and ssh-keygen for deploy/make-certs.sh inside the container; nginx for the Fleet proxy
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssl openssh-client nginx \
    && rm -rf /var/lib/apt/lists/*

# torch first, from the chosen wheel index, so that a code change does not reinstall it
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch>=2.4" torchvision

WORKDIR /opt/fedot
COPY pyproject.toml README.md ./
COPY fedot ./fedot
COPY clients ./clients
COPY strategies ./strategies
COPY deploy ./deploy
RUN pip install -e . \
    && python -c "import fedot.deploy, clients.client_app, strategies.server_app" \
    && flower-supernode --version && flower-superexec --version

# Any user may run the containers (compose sets FEDOT_UID): HOME holds Flower's state
# (~/.flwr), the data cache (~/.cache) and the default results folder (~/fedot-runs).
RUN useradd --uid 49999 --home-dir /app --no-create-home app \
    && mkdir -p /app/data /app/fedot-runs /app/certs \
    && chmod 1777 /app /app/fedot-runs
USER 49999:49999
WORKDIR /app
CMD ["python", "-m", "fedot.deploy", "--help"]
