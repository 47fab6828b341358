# AdaMem Lab: a slim image serving the Streamlit app on port 8501.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# torch is pinned in requirements.txt. For a small image, point pip at an index that serves
# the CPU build of that torch release: docker build --build-arg PIP_EXTRA_INDEX_URL=<index> .
ARG PIP_EXTRA_INDEX_URL=""
COPY requirements.txt .
RUN PIP_EXTRA_INDEX_URL="${PIP_EXTRA_INDEX_URL}" pip install -r requirements.txt

COPY adamem_core ./adamem_core
COPY ui ./ui
COPY app_pages ./app_pages
COPY .streamlit ./.streamlit
COPY app.py pyproject.toml README.md ./

RUN useradd --create-home --uid 1000 lab && chown -R 1000 /app
# numeric, so that the host (and Kubernetes' runAsNonRoot) can tell it is not root
USER 1000

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"]

CMD ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
