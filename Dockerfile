# GapMap 乡村短板一张图 — the Streamlit app on the shipped 同心县 demo data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

# Chinese fonts for labels rendered server-side; GDAL/PROJ come inside the pyogrio/rasterio wheels.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt pyproject.toml README.md ./
RUN pip install -r requirements.txt
COPY geo ./geo
COPY layers ./layers
COPY app ./app
COPY scripts ./scripts
COPY data ./data
COPY .streamlit ./.streamlit
RUN pip install --no-deps -e .

RUN useradd --create-home gapmap && chown -R gapmap /app
USER gapmap
EXPOSE 8501
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health')"
# Inside the container the app must listen on the container's interface, so publish the port
# on the host's loopback only (README): `docker run -p 127.0.0.1:8501:8501 gapmap`. Local mode
# has no login; a county server runs scripts/server.sh (login, PostgreSQL) behind nginx + TLS.
ENV GAPMAP_HOST=0.0.0.0
CMD ["sh", "-c", "exec streamlit run app/main.py --server.port=8501 --server.address=\"$GAPMAP_HOST\" --server.headless=true --client.showErrorDetails=\"$( [ \"$GAPMAP_MODE\" = server ] && echo none || echo full )\""]
