# Image for docker-compose.yml (web, worker, beat). Python 3.11 + the locked dependencies.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN useradd --create-home nexus && chown -R nexus /app
USER nexus
EXPOSE 8000
# Liveness of a plain `docker run`: the process answers /healthz (nexus_site/healthcheck.py).
# docker-compose.yml's web service asks /readyz instead (readiness); its worker has its own check and
# its beat none.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-m", "nexus_site.healthcheck", "/healthz"]
CMD ["gunicorn", "-c", "nexus_site/gunicorn_conf.py", "--bind", "0.0.0.0:8000", "nexus_site.wsgi"]
