# AdaMem Lab's reverse proxy: Debian's HAProxy, configured from deploy/haproxy.cfg.in at start
# (the replicas are found through Docker's DNS: see deploy/compose.yaml).
# Built from the repository root: docker build -f deploy/proxy.Dockerfile .
FROM python:3.11-slim

# HAProxy 2.6 is Debian 12's (bookworm, the base of python:3.11-slim)
RUN apt-get update \
    && apt-get install -y --no-install-recommends haproxy=2.6.* \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /proxy
COPY deploy/haproxy.cfg.in deploy/render_proxy_config.py deploy/proxy-entrypoint.sh ./

RUN useradd --create-home --uid 1001 proxy && chown -R 1001 /proxy
USER 1001

ENV REPLICAS=4 APP_ADDRESS=app:8501
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/_proxy/health', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["sh", "/proxy/proxy-entrypoint.sh"]
