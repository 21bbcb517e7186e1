"""The ``elastic`` HitStore: hits as documents in daily Elasticsearch indices."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from elasticsearch import BadRequestError, NotFoundError

from hitcount.core.config import Config
from hitcount.core.errors import ConfigError, HitsRefused, StoreError, StoreUnavailable
from hitcount.core.health import Health
from hitcount.core.hit import Hit
from hitcount.core.hours import Hours, first_hour
from hitcount.core.ranking import ranked
from hitcount.core.store import HitStore
from hitcount.core.windows import Counts, Window
from hitcount.store_elastic import bulk, counting, query, ranking
from hitcount.store_elastic.bulk import Outcome
from hitcount.store_elastic.connection import describe_nodes, open_client, secrets_of, translated_errors
from hitcount.store_elastic.layout import PROPERTIES, TIMESTAMP_FIELD, TIMESTAMP_FORMAT, Layout, timestamp_text
from hitcount.store_elastic.rollups import Rollups
from hitcount.store_elastic.settings import (
    API_KEY,
    CA_CERTS,
    INDEX_PREFIX,
    PASSWORD,
    REFRESH_INTERVAL,
    REPLICAS,
    SHARDS,
    TIMEOUT,
    URL,
    USERNAME,
)
from hitcount.store_elastic.timing import RETRY_DELAYS

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger(__name__)

# Visitors' documents deleted by one request of a purge, and the longest a purge spends on them (s).
VISITOR_PURGE_PAGE = 10_000
VISITOR_PURGE_SECONDS = 10.0


class ElasticStore(HitStore):
    """Hits in ``<prefix>-YYYY.MM.DD`` indices shaped by the ``<prefix>`` index template.

    Opening installs the templates (or notices they are current) and makes the rollups index;
    when the cluster is unreachable then, the store opens anyway and does it before the first
    write or seal, because an index auto-created without them would get dynamic, wrong field types.
    """

    def __init__(
        self,
        urls: tuple[str, ...],
        *,
        api_key: str = "",
        username: str = "",
        password: str = "",
        ca_certs: Path | None = None,
        timeout: float = 10.0,
        index_prefix: str = "hitcount-hits",
        shards: int = 1,
        replicas: int | str = "0-1",
        refresh_interval: float = 30.0,
    ) -> None:
        """A store on the nodes at ``urls`` (durations in seconds; ``replicas`` a number or a range such as
        ``0-1``), its indices named ``<index_prefix>-YYYY.MM.DD``: see the ``HITCOUNT_ELASTIC_*`` settings."""
        self._layout = Layout(index_prefix, shards, replicas, refresh_interval)
        self._client = open_client(
            urls, timeout, api_key=api_key, username=username, password=password, ca_certs=ca_certs
        )
        self._nodes = describe_nodes(urls)
        self._secrets = secrets_of(urls, password, api_key)
        # How long each bulk item may wait for its shard (or its index's creation):
        # half the request timeout, so that Elasticsearch answers a retryable 503 for
        # the items of an unavailable shard before the client gives up on the request.
        self._bulk_timeout = f"{round(timeout * 500)}ms"
        self._templates_installed = False
        # The task deleting expired visitors' documents that this store started last (:meth:`purge`).
        self._visitor_purge: str | None = None
        self._rollups = Rollups(self._client, self._layout, self._errors, self._bulk)
        try:
            self._install_templates()
        except StoreUnavailable as error:
            log.warning("%s; installing it again before the first write", error)

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The store the ``HITCOUNT_ELASTIC_*`` settings describe; credentials are an API key or a user and
        password, not both."""
        api_key, username, password = config.get(API_KEY), config.get(USERNAME), config.get(PASSWORD)
        if api_key and username:
            raise ConfigError(f"set either {API_KEY.name} or {USERNAME.name}/{PASSWORD.name}, not both")
        if bool(username) != bool(password):
            raise ConfigError(f"{USERNAME.name} and {PASSWORD.name} must be set together")
        return cls(
            config.get(URL),
            api_key=api_key,
            username=username,
            password=password,
            ca_certs=config.get(CA_CERTS),
            timeout=config.get(TIMEOUT),
            index_prefix=config.get(INDEX_PREFIX),
            shards=config.get(SHARDS),
            replicas=config.get(REPLICAS),
            refresh_interval=config.get(REFRESH_INTERVAL),
        )

    def _errors(self, action: str) -> AbstractContextManager[None]:
        return translated_errors(f"elasticsearch at {self._nodes}: {action}", self._secrets)

    def _install_templates(self) -> None:
        """Put each index template unless the cluster already holds this very version of it, then give
        every daily index of the prefix each field the daily template maps.

        The mapping is strict, so a daily index made by an older template (today's, during an
        upgrade) would refuse documents with a field added since, such as ``visitor``. Adding a
        field to an existing mapping is allowed (closed indices included), and putting fields an
        index already has changes nothing, so the fields are put at every install, not only when
        the template changes: an index an instance of the older version made meanwhile is caught
        up by the next store that opens.
        """
        for name, template in self._layout.templates().items():
            with self._errors(f"installing index template {name!r}"):
                try:
                    found = self._client.indices.get_index_template(name=name)["index_templates"]
                except NotFoundError:
                    found = []
                if not found or found[0]["index_template"].get("_meta") != template["_meta"]:
                    self._client.indices.put_index_template(name=name, body=template)
                    log.info("installed index template %r (%s)", name, template["_meta"]["digest"])
        with self._errors("adding the hit fields to the daily indices"):
            self._client.indices.put_mapping(
                index=self._layout.daily_pattern,
                properties=PROPERTIES,
                allow_no_indices=True,
                expand_wildcards="open,closed",
            )
        self._create_rollups_index()
        self._templates_installed = True

    def _create_rollups_index(self) -> None:
        """Make the rollups index unless it exists, and wait for its primary shard.

        Every write and read gets the seal line from it, and must fail rather than take a
        line it cannot read for none; made here, it exists before the first of them, not
        half-made by whichever came first.
        """
        index = self._layout.rollups_index
        with self._errors(f"creating {index}"):
            try:
                self._client.indices.create(index=index)
            except BadRequestError as error:
                if error.error != "resource_already_exists_exception":
                    raise
            self._client.cluster.health(index=index, wait_for_status="yellow", timeout=self._bulk_timeout)

    def _ready(self) -> None:
        """Install the templates before anything creates an index, if opening could not."""
        if not self._templates_installed:
            self._install_templates()

    def write(self, hits: Sequence[Hit]) -> None:
        """Bulk-``create`` the hits and index their visitors' documents; re-send only the actions a busy
        cluster refused.

        A 409 on ``create`` means a document with the hit's ``_id`` is already in the
        index of the hit's day: an earlier copy of this very hit, so it is stored; on a
        visitor's document, that it holds this hit's time or a later one
        (:class:`bulk.Actions`). The attempts take at most
        :func:`~hitcount.store_elastic.timing.longest_write`, which a registered rule keeps
        within the queue's visibility timeout. Actions refused for good (a mapping that
        rejects the document, a closed index) are left out of the re-sends and their hits
        reported together at the end (:class:`HitsRefused`), once every other hit is
        stored, so that they alone are set aside; a hit whose visitor's action was refused
        is among them, and storing it again counts it once. Hits of hours a sealer has
        started on are counted into their buckets before it returns (:meth:`Rollups.recount`).
        """
        if not hits:
            return
        self._ready()
        actions = bulk.encode(hits, self._layout)
        pending = list(range(len(actions.entries)))
        refused: dict[int, str] = {}
        for delay in (0.0, *RETRY_DELAYS):
            if delay:
                time.sleep(delay)
            triage = bulk.triage(self._bulk([actions.entries[action] for action in pending]))
            summary = f"{len(hits)} hits: {triage.summary()}"
            if triage.positions(Outcome.DENIED):
                raise StoreUnavailable(
                    f"elasticsearch at {self._nodes} denied writing a batch of {summary} (check the credentials)"
                )
            for position, reason in triage.refusals.items():
                refused.setdefault(actions.hits[pending[position]], reason)
            pending = [pending[position] for position in triage.positions(Outcome.RETRY)]
            if not pending:
                break
            log.warning("re-sending %d of %d actions: %s", len(pending), len(actions.entries), triage.summary())
        else:
            attempts = len(RETRY_DELAYS) + 1
            raise StoreUnavailable(
                f"elasticsearch at {self._nodes} stayed busy for a batch of {summary} ({attempts} attempts)"
            )
        self._rollups.recount(hits)
        if refused:
            example = next(iter(refused.values()))
            raise HitsRefused(
                f"elasticsearch at {self._nodes} refused {len(refused)} of {len(hits)} hits, e.g. {example}", refused
            )

    def _bulk(self, entries: list[str]) -> list[Mapping[str, Any]]:
        """Send pre-encoded actions; return the response's items if any failed, else nothing."""
        body = "".join(entries).encode("utf-8")
        with self._errors(f"bulk write of {len(entries)} actions"):
            # The NDJSON serializer forwards pre-encoded bytes as they are; building the
            # body ourselves skips a json.dumps per line.
            operations = cast("Sequence[Mapping[str, Any]]", [body])
            response = self._client.bulk(
                operations=operations, timeout=self._bulk_timeout, filter_path=bulk.RESPONSE_FILTER
            )
        if not response["errors"]:
            return []
        items: list[Mapping[str, Any]] = response["items"]
        if len(items) != len(entries):
            raise StoreError(f"elasticsearch at {self._nodes} answered {len(items)} items to {len(entries)} actions")
        return items

    def counts(self, id: str, now: int) -> Counts:
        """A real-time read of the seal line, then one multi-search of spans whose cost does not grow with the
        id's hits (:mod:`.counting`)."""
        plan = counting.plan(self._layout, id, now, self._rollups.line().sealed)
        with self._errors(f"counting {id!r}"):
            response = self._client.msearch(searches=plan.searches)
        return plan.counts(response["responses"])

    def hours(self, id: str, now: int) -> Hours:
        """A ``date_histogram`` of the id's hits over the daily indices of the last three days."""
        with self._errors(f"counting the hours of {id!r}"):
            response = self._client.search(
                index=self._layout.indices_since(first_hour(now), now),
                ignore_unavailable=True,
                allow_no_indices=True,
                **query.hours_arguments(id, now),
            )
        return query.hours_from(response.body, id, now)

    def top(self, window: Window | None, now: int, limit: int, prefix: str = "") -> list[tuple[str, int]]:
        """Candidates from one search, then their exact counts from a second (:mod:`.ranking`)."""
        sealed = self._rollups.line().sealed if window is None else 0
        index = ranking.indices(self._layout, window, now, sealed)

        def search(**arguments: Any) -> list[tuple[str, int]]:
            with self._errors("ranking ids"):
                response = self._client.search(
                    index=index,
                    ignore_unavailable=True,
                    allow_no_indices=True,
                    **ranking.search_arguments(self._layout, window, now, sealed, prefix=prefix, **arguments),
                )
            return ranking.ranking_from(response.body)

        candidates = search(size=limit)
        if not candidates:
            return []
        return ranked(search(size=len(candidates), ids=[id for id, _ in candidates]), limit)

    def seal(self, before: int) -> int:
        """Count every hour before ``before`` not sealed yet into buckets (:mod:`.rollups`)."""
        self._ready()
        return self._rollups.seal(before)

    def rebuild(self, since: int) -> int:
        """Count the sealed hours from ``since`` on again from the hits still held (:mod:`.rollups`)."""
        self._ready()
        return self._rollups.rebuild(since)

    def purge(self, before: int) -> int:
        """Delete every daily index whose day ends at or before both ``before`` and the seal line, then the
        documents of visitors whose latest hit is before ``before``; return how many indices and documents."""
        sealed = self._rollups.line().sealed
        with self._errors("retention"):
            resolved = self._client.indices.resolve_index(name=self._layout.pattern, expand_wildcards="open,closed")
            expired = self._layout.expired((entry["name"] for entry in resolved["indices"]), min(before, sealed))
            for index in expired:
                self._client.indices.delete(index=index)
                log.info("retention deleted index %s", index)
            return len(expired) + self._purge_visitors(before)

    def _purge_visitors(self, before: int) -> int:
        """Delete the visitors' documents last seen before ``before``, a page at a time, for at most
        :data:`VISITOR_PURGE_SECONDS`; the next purge goes on where this one stopped.

        A search finds a page of them with their versions (their latest hit's time), and a
        bulk request deletes each only while it still has that version
        (``external_gte``): a visitor who came back in between keeps the document its new
        hit wrote. Elasticsearch's delete-by-query would do the same in one request, but it
        comes with the ``reindex`` module, which not every distribution has.
        """
        index = self._layout.visitors_index
        expired = {"range": {TIMESTAMP_FIELD: {"lt": timestamp_text(before), "format": TIMESTAMP_FORMAT}}}
        deadline = time.monotonic() + VISITOR_PURGE_SECONDS
        deleted = 0
        while time.monotonic() < deadline:
            found = self._client.search(
                index=index,
                query=expired,
                size=VISITOR_PURGE_PAGE,
                sort=["_doc"],
                version=True,
                source=False,
                track_total_hits=False,
                ignore_unavailable=True,
                allow_no_indices=True,
                filter_path="hits.hits._id,hits.hits._version",
            )
            page = found.get("hits", {}).get("hits", [])
            if not page:
                break
            failures = bulk.unaccepted(self._bulk(bulk.deletions(index, page)), (200, 404, 409))
            if failures:
                raise StoreError(f"{len(failures)} of {len(page)} visitors' documents not deleted, e.g. {failures[0]}")
            self._client.indices.refresh(index=index)
            deleted += len(page)
        if deleted:
            log.info("retention deleted %d visitors' documents from %s", deleted, index)
        return deleted

    def health(self) -> Health:
        """Reachable, the prefix's indices not red, and the templates in place (reinstalled if missing)."""
        names = self._layout.template_names
        try:
            with self._errors("health check"):
                status = self._client.cluster.health(index=self._layout.pattern)["status"]
                if not all(self._client.indices.exists_index_template(name=name) for name in names):
                    self._templates_installed = False
            if not self._templates_installed:
                self._install_templates()
        except (StoreError, StoreUnavailable) as error:
            return Health(False, str(error))
        installed = ", ".join(repr(name) for name in names)
        detail = (
            f"elasticsearch at {self._nodes}: indices {self._layout.pattern} {status}, templates {installed} installed"
        )
        return Health(status != "red", detail)

    def refresh(self) -> None:
        """Refresh every daily index of the prefix, so counts see every completed write."""
        with self._errors("refresh"):
            self._client.indices.refresh(index=self._layout.pattern, ignore_unavailable=True, allow_no_indices=True)

    def close(self) -> None:
        self._client.close()
