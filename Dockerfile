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
CMD ["gunicorn", "-c", "nexus_site/gunicorn_conf.py", "--bind", "0.0.0.0:8000", "nexus_site.wsgi"]
