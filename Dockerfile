FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# Health reports: Pango + a font for WeasyPrint (PDF), Chromium for kaleido (PNG charts);
# fonts-symbola for the glyphs DejaVu lacks (U+24C8 "Ⓢ" of Binance "USDⓈ-M")
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    fonts-dejavu-core fonts-symbola chromium && rm -rf /var/lib/apt/lists/*
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/prod.txt
COPY . .
RUN DEBUG=1 python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "riskgov.config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
