# The web (uvicorn) and worker (celery) image; see docker-compose.yml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# torch's CPU build comes from PyTorch's own index (PyPI's torch pulls CUDA, gigabytes of it);
# the moderation models run on CPU.
COPY requirements.txt ./
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu --only-binary=torch -r requirements.txt

COPY . .
RUN useradd --create-home --uid 1000 app && mkdir -p var/secrets var/models && chown -R app:app var
USER app

EXPOSE 8000
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--loop", "uvloop", "--http", "httptools", "--ws", "websockets", "--ws-per-message-deflate", "false"]
