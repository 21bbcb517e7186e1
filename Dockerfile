# One image for the API and the indexer, with the Redis queue and Elasticsearch store installed.
# Used by docker-compose.yml; the command chooses the role (`hitcount api` or `hitcount indexer`).
FROM python:3.11-slim
WORKDIR /src
COPY packages/ packages/
RUN pip install --no-cache-dir ./packages/core "./packages/queue-redis[hiredis]" ./packages/store-elastic \
        ./packages/api-flask ./packages/indexer \
    && useradd --system --create-home --home-dir /var/lib/hitcount hitcount
USER hitcount
WORKDIR /var/lib/hitcount
ENV HITCOUNT_BIND=0.0.0.0:8000
EXPOSE 8000
CMD ["hitcount", "api"]
