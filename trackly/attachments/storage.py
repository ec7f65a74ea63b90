"""Blob Storage access: one lazily built client per process, SAS URLs, the private container.

Three ways to reach storage (first match wins):

1. `AZURE_STORAGE_CONNECTION_STRING` (Azurite, key-based accounts; `UseDevelopmentStorage=true`
   means Azurite on 127.0.0.1:10000);
2. `AZURE_STORAGE_ACCOUNT_NAME` + `AZURE_STORAGE_ACCOUNT_KEY` (endpoint from
   `AZURE_STORAGE_ACCOUNT_URL`, or `https://<name>.blob.core.windows.net`);
3. `AZURE_STORAGE_ACCOUNT_URL` alone: managed identity through `DefaultAzureCredential`; SAS URLs
   are signed with a user delegation key that is cached and renewed well before it expires.

The azure SDK is imported inside the functions that use it, never at module import. Clients are
cached per process and keyed by the storage settings, so a settings change builds a new one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from trackly import clock
from trackly.config import Settings
from trackly.errors import ServiceUnavailable

if TYPE_CHECKING:  # typing only; the SDK is imported lazily at runtime
    from azure.storage.blob import BlobServiceClient, ContainerClient, UserDelegationKey

log = logging.getLogger(__name__)

# Azurite's development account (a well-known, public key from Microsoft's Azurite docs).
DEV_ACCOUNT_NAME = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

# A user delegation key is requested for this long and replaced once less than RENEW_BEFORE is
# left; SAS lifetimes are at most 60 minutes (settings), so every SAS ends before its key does.
DELEGATION_KEY_LIFETIME = timedelta(hours=12)
DELEGATION_KEY_RENEW_BEFORE = timedelta(hours=2)

NOT_CONFIGURED = (
    "Attachments are not configured on this server: set AZURE_STORAGE_CONNECTION_STRING "
    "(or AZURE_STORAGE_ACCOUNT_NAME + AZURE_STORAGE_ACCOUNT_KEY, or AZURE_STORAGE_ACCOUNT_URL "
    "for a managed identity)."
)
UNREACHABLE = "Attachment storage is unreachable right now; nothing was changed. Try again shortly."


def dev_connection_string(blob_endpoint: str) -> str:
    """The Azurite development account at `blob_endpoint` (e.g. http://127.0.0.1:10000/devstoreaccount1)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT_NAME};AccountKey={DEV_ACCOUNT_KEY};"
        f"BlobEndpoint={blob_endpoint};"
    )


class StorageUnavailable(ServiceUnavailable):
    """Storage could not be reached (connection refused, timeout, 5xx)."""

    slug = "storage-unavailable"

    def __init__(self, detail: str = UNREACHABLE) -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


class StorageNotConfigured(ServiceUnavailable):
    slug = "attachments-not-configured"
    title = "Attachments not configured"

    def __init__(self) -> None:
        super().__init__(NOT_CONFIGURED)


class DelegationKeyCache:
    """Caches a user delegation key and fetches a new one well before the cached one expires."""

    def __init__(self, fetch: Callable[[datetime, datetime], UserDelegationKey]) -> None:
        self._fetch = fetch
        self._key: UserDelegationKey | None = None
        self._expires_at: datetime | None = None
        self._lock = threading.Lock()

    def get(self) -> UserDelegationKey:
        with self._lock:
            now = clock.now()
            if (
                self._key is None
                or self._expires_at is None
                or now >= self._expires_at - DELEGATION_KEY_RENEW_BEFORE
            ):
                expires = now + DELEGATION_KEY_LIFETIME
                # Start slightly in the past: the storage service's clock may run behind ours.
                self._key = self._fetch(now - timedelta(minutes=5), expires)
                self._expires_at = expires
            return self._key


@dataclass
class Storage:
    """Everything needed to talk to one container and sign SAS URLs for it."""

    service: BlobServiceClient
    container_name: str
    account_name: str
    account_key: str | None
    delegation_keys: DelegationKeyCache | None
    container_ready: bool = False

    @property
    def container(self) -> ContainerClient:
        return self.service.get_container_client(self.container_name)

    @property
    def https(self) -> bool:
        return str(self.service.url).lower().startswith("https://")

    def blob_url(self, blob_name: str) -> str:
        return str(self.container.get_blob_client(blob_name).url)

    def ensure_container(self) -> None:
        """Create the (private) container on first use in this process."""
        if self.container_ready:
            return
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        with translate_errors():
            try:
                self.container.create_container()  # no public access: private
            except ResourceExistsError:
                pass
            except HttpResponseError as exc:
                if exc.status_code != 403:
                    raise
                # Managed identities with data-plane rights only: the container comes from the
                # infrastructure templates; carry on.
                log.info("not allowed to create container %s; assuming it exists", self.container_name)
        self.container_ready = True

    def sas_url(
        self,
        blob_name: str,
        *,
        permission: Any,
        expires_at: datetime,
        content_disposition: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """A URL for one blob carrying a SAS with `permission` until `expires_at`."""
        from azure.storage.blob import generate_blob_sas

        with translate_errors():
            token = generate_blob_sas(
                account_name=self.account_name,
                container_name=self.container_name,
                blob_name=blob_name,
                account_key=self.account_key,
                user_delegation_key=self.delegation_keys.get() if self.delegation_keys else None,
                permission=permission,
                expiry=expires_at,
                protocol="https" if self.https else None,
                content_disposition=content_disposition,
                content_type=content_type,
            )
        return f"{self.blob_url(blob_name)}?{token}"


_lock = threading.Lock()
_cache: dict[tuple[str, ...], Storage] = {}


def _key(settings: Settings) -> tuple[str, ...]:
    return (
        settings.AZURE_STORAGE_CONNECTION_STRING,
        settings.AZURE_STORAGE_ACCOUNT_NAME,
        settings.AZURE_STORAGE_ACCOUNT_KEY,
        settings.AZURE_STORAGE_ACCOUNT_URL,
        settings.AZURE_STORAGE_CONTAINER_NAME,
        str(settings.AZURE_STORAGE_TIMEOUT_SECONDS),
    )


def _client_options(settings: Settings) -> dict[str, Any]:
    """Bounded waits on a request path. The SDK defaults (connection_timeout 20 s, read_timeout
    60 s per socket read, retries with growing back-off) let a hung storage service hold a request
    for minutes; here each attempt waits at most AZURE_STORAGE_TIMEOUT_SECONDS for an answer and
    there is one quick retry, so a call gives up after about twice that and answers 503."""
    from azure.storage.blob import LinearRetry

    seconds = settings.AZURE_STORAGE_TIMEOUT_SECONDS
    return {
        "connection_timeout": min(seconds, 3.0),
        "read_timeout": seconds,
        "retry_policy": LinearRetry(backoff=1, retry_total=1, random_jitter_range=0),
    }


def _build(settings: Settings) -> Storage:
    from azure.storage.blob import BlobServiceClient

    # The SDK logs every request and response at INFO; keep that out of the app's logs.
    sdk_log = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
    if sdk_log.level == logging.NOTSET:
        sdk_log.setLevel(logging.WARNING)

    container = settings.AZURE_STORAGE_CONTAINER_NAME
    if settings.AZURE_STORAGE_CONNECTION_STRING:
        service = BlobServiceClient.from_connection_string(
            settings.AZURE_STORAGE_CONNECTION_STRING, **_client_options(settings)
        )
        credential: Any = service.credential
        name = getattr(credential, "account_name", None) or service.account_name
        key = getattr(credential, "account_key", None)
        if not name or not key:
            raise ServiceUnavailable(
                "AZURE_STORAGE_CONNECTION_STRING must contain AccountName and AccountKey "
                "(SAS-only connection strings cannot sign upload URLs)."
            )
        return Storage(service, container, str(name), str(key), None)
    if settings.AZURE_STORAGE_ACCOUNT_NAME and settings.AZURE_STORAGE_ACCOUNT_KEY:
        name = settings.AZURE_STORAGE_ACCOUNT_NAME
        url = settings.AZURE_STORAGE_ACCOUNT_URL or f"https://{name}.blob.core.windows.net"
        service = BlobServiceClient(
            url,
            credential={"account_name": name, "account_key": settings.AZURE_STORAGE_ACCOUNT_KEY},
            **_client_options(settings),
        )
        return Storage(service, container, name, settings.AZURE_STORAGE_ACCOUNT_KEY, None)
    if settings.AZURE_STORAGE_ACCOUNT_URL:
        from azure.identity import DefaultAzureCredential

        service = BlobServiceClient(
            settings.AZURE_STORAGE_ACCOUNT_URL,
            credential=DefaultAzureCredential(),
            **_client_options(settings),
        )

        def fetch(start: datetime, expiry: datetime) -> UserDelegationKey:
            with translate_errors():
                return service.get_user_delegation_key(key_start_time=start, key_expiry_time=expiry)

        return Storage(service, container, str(service.account_name), None, DelegationKeyCache(fetch))
    raise StorageNotConfigured()


def get_storage(settings: Settings) -> Storage:
    """The cached storage for these settings (503 problem when storage is not configured)."""
    if not settings.storage_configured:
        raise StorageNotConfigured()
    key = _key(settings)
    storage = _cache.get(key)
    if storage is None:
        with _lock:
            storage = _cache.get(key)
            if storage is None:
                storage = _cache[key] = _build(settings)
    return storage


def reset_clients() -> None:
    """Forget every cached client (tests, and the local host after changing settings)."""
    with _lock:
        for storage in _cache.values():
            try:
                storage.service.close()
            except Exception:  # closing is best effort
                log.debug("closing blob client failed", exc_info=True)
        _cache.clear()


@contextmanager
def translate_errors() -> Iterator[None]:
    """SDK transport failures become a 503 problem; missing blobs and other errors pass through."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except ResourceNotFoundError:
        raise
    except (ServiceRequestError, ServiceResponseError) as exc:
        log.warning("blob storage unreachable: %s", type(exc).__name__)
        raise StorageUnavailable() from None
    except ClientAuthenticationError as exc:
        log.error("blob storage refused our credentials: %s", exc)
        raise StorageUnavailable(
            "Attachment storage refused the server's credentials; an operator has to fix them."
        ) from None
    except HttpResponseError as exc:
        if (exc.status_code or 0) >= 500:
            log.warning("blob storage error %s", exc.status_code)
            raise StorageUnavailable() from None
        raise


# --- blob operations (missing blobs are never an error) ----------------------------------------


@dataclass(frozen=True)
class BlobInfo:
    name: str
    size: int
    last_modified: datetime | None
    copied: bool = False  # created by Copy Blob (x-ms-copy-source), not by an upload


def blob_info(storage: Storage, blob_name: str) -> BlobInfo | None:
    from azure.core.exceptions import ResourceNotFoundError

    with translate_errors():
        try:
            props = storage.container.get_blob_client(blob_name).get_blob_properties()
        except ResourceNotFoundError:
            return None
    copy = getattr(props, "copy", None)
    copied = bool(copy is not None and (copy.id or copy.source))
    return BlobInfo(blob_name, int(props.size), props.last_modified, copied)


def read_range(storage: Storage, blob_name: str, *, offset: int, length: int) -> bytes:
    with translate_errors():
        data = storage.container.get_blob_client(blob_name).download_blob(offset=offset, length=length)
        return bytes(data.readall())


def iter_chunks(storage: Storage, blob_name: str) -> Iterator[bytes]:
    with translate_errors():
        stream = storage.container.get_blob_client(blob_name).download_blob()
        for chunk in stream.chunks():
            yield bytes(chunk)


def delete_blob(storage: Storage, blob_name: str) -> None:
    """Delete one blob (and its snapshots); a blob that is already gone is fine."""
    from azure.core.exceptions import ResourceNotFoundError

    with translate_errors(), suppress(ResourceNotFoundError):
        storage.container.get_blob_client(blob_name).delete_blob(delete_snapshots="include")


def list_blobs(storage: Storage, prefix: str) -> Iterator[BlobInfo]:
    from azure.core.exceptions import ResourceNotFoundError

    with translate_errors():
        try:
            for item in storage.container.list_blobs(name_starts_with=prefix):
                yield BlobInfo(str(item.name), int(item.size or 0), item.last_modified)
        except ResourceNotFoundError:  # the container itself does not exist yet
            return


def configure_cors(storage: Storage, origins: list[str]) -> None:
    """Allow browser uploads (PUT with x-ms-blob-type) and downloads from `origins`.

    In Azure the infrastructure templates set this; the local host and tests call it on Azurite.
    """
    from azure.storage.blob import CorsRule

    rule = CorsRule(
        allowed_origins=origins,
        allowed_methods=["PUT", "GET", "HEAD", "OPTIONS"],
        allowed_headers=["x-ms-blob-type", "content-type", "x-ms-*"],
        exposed_headers=["x-ms-*", "content-disposition", "content-type", "etag"],
        max_age_in_seconds=3600,
    )
    with translate_errors():
        storage.service.set_service_properties(cors=[rule])
