# Speed-Up Studio: the web app on an NVIDIA CUDA base; it runs on a CPU too (the embedded models).
#   docker build -t speedup-studio .
#   docker run --gpus all -p 7860:7860 -e HF_TOKEN -v studio-hf:/home/studio/.cache/huggingface speedup-studio
# The pinned torch==2.14.1 wheel is built for CUDA 13.0 and brings its own CUDA libraries (cuBLAS, cuDNN, NCCL
# as pip packages), so the small CUDA 13.0 "base" flavour is enough: the "runtime" flavour would add a second
# copy of those libraries (gigabytes). The host needs an NVIDIA driver for CUDA 13.0 (580 or newer) and the
# NVIDIA Container Toolkit. Python is Ubuntu 24.04's 3.12; every pin in requirements.txt has a cp312 wheel.
FROM nvidia/cuda:13.0.1-base-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Exact apt versions are not pinned: Ubuntu's archive drops superseded package versions, so pins break rebuilds;
# the base image tag fixes the distribution release instead.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && if id ubuntu >/dev/null 2>&1; then userdel --remove ubuntu; fi \
    && useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin studio \
    && python3 -m venv /opt/venv

# Dependencies first, so code changes do not reinstall them.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt

# Code is owned by root and read-only for the app user; only caches and run folders are writable.
WORKDIR /app
COPY . .
RUN mkdir -p /app/.runs /app/out /opt/studio-cache /home/studio/.cache/huggingface \
    && chown -R studio:studio /app/.runs /app/out /opt/studio-cache /home/studio/.cache

# The app runs as the unprivileged user `studio` (uid 1000, Ubuntu's default `ubuntu` user removed to free it).
# LPIPS weights are prepared now, outside the Hugging Face cache volume, so no download happens at run time.
ENV STUDIO_CACHE_DIR=/opt/studio-cache \
    HF_HOME=/home/studio/.cache/huggingface \
    STUDIO_HOST=0.0.0.0 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    STUDIO_PORT=7860 \
    GRADIO_SERVER_PORT=7860
USER 1000:1000
RUN python -m studio.metrics.prepare

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 \
    CMD ["python", "-m", "studio.deploy.healthcheck"]
CMD ["python", "app.py"]
