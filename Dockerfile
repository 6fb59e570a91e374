# CPU/GPU image: the CUDA torch build from requirements.txt runs on both. See README for `docker run`.
FROM python:3.11-slim
RUN useradd --create-home studio
WORKDIR /home/studio/app
COPY --chown=studio:studio requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=studio:studio . .
USER studio
RUN python -m studio.metrics.prepare
EXPOSE 7860
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/')"
CMD ["python", "app.py"]
