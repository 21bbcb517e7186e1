# One image for the API and the indexer, with the Redis queue and Elasticsearch store installed.
# Used by docker-compose.yml; the command chooses the role (`hitcount api` or `hitcount indexer`).
# An exact Python release on an exact Debian; Debian's security updates come with a rebuild of that tag.
FROM python:3.11.17-slim-bookworm
WORKDIR /src
# Third-party packages at the versions and hashes of deploy/requirements.txt (`make image-requirements`
# writes it), in a layer of their own that a change of hitcount's code leaves cached.
COPY deploy/requirements.txt deploy/
RUN pip install --no-cache-dir --require-hashes -r deploy/requirements.txt
# hitcount's own packages from the checkout without their dependencies (built by the pinned setuptools):
# pip check fails the build when deploy/requirements.txt lacks one they need.
COPY deploy/requirements.in deploy/
COPY packages/ packages/
RUN pip install --no-cache-dir --no-deps --no-build-isolation -r deploy/requirements.in \
    && pip check \
    && useradd --system --create-home --home-dir /var/lib/hitcount hitcount
USER hitcount
WORKDIR /var/lib/hitcount
ENV HITCOUNT_BIND=0.0.0.0:8000
EXPOSE 8000
CMD ["hitcount", "api"]
