# Galatea's bot as an image; docs/compose.yaml builds it (docs/deployment.md explains it).
# It installs through scripts/ensure-venv.sh, the script ./run.sh and ./test.sh use, so the
# image and a bare-machine install cannot drift apart. Build from the repository root:
#   docker build -t galatea .
FROM python:3.11-slim

WORKDIR /app

# Dependencies first, from what decides them alone: a code change then reuses this layer.
# ensure-venv.sh makes .venv and installs Galatea editable (a .pth line pointing at /app), so
# the code copied below is what runs. main.py and README.md are named by pyproject.toml.
COPY pyproject.toml README.md ./
COPY scripts/ensure-venv.sh scripts/
RUN touch main.py \
    && bash -c 'source scripts/ensure-venv.sh && ensure_venv postgres' \
    && rm -rf /root/.cache/pip

COPY . .

# Not root: the bot writes only data/ (SQLite, its backups) and models/ (galatea download).
RUN useradd --create-home --uid 10001 galatea \
    && mkdir -p data models \
    && chown galatea:galatea data models
USER galatea
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1

# The README's entry point: ensure-venv finds everything installed and starts the bot.
# SIGTERM (docker stop) closes it cleanly.
CMD ["./run.sh"]
