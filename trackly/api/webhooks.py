"""HTTP functions for webhooks (ADMIN): management, ping, the delivery log, redelivery; and the
`deliver_webhooks` timer."""

import logging
from typing import TYPE_CHECKING

import azure.functions as func

from trackly.auth.policy import Action
from trackly.http import Call, Reply, endpoint
from trackly.http.deletion import Deleted
from trackly.http.timers import Run, scheduled
from trackly.lazy import lazy
from trackly.webhooks.schemas import (
    DeliveriesPage,
    DeliveriesQuery,
    DeliveryDetail,
    DeliveryOut,
    DeliveryPath,
    SecretOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookPath,
    WebhookUpdate,
)

if TYPE_CHECKING:
    from trackly.webhooks import delivery, service
else:  # imported by the first request that needs them: keeps the ORM out of cold start
    delivery = lazy("trackly.webhooks.delivery")
    service = lazy("trackly.webhooks.service")

bp = func.Blueprint()
log = logging.getLogger(__name__)

TAGS = ["webhooks"]
NO_STORE = {"Cache-Control": "no-store"}
ADMIN_ERRORS = (401, 403, 404)


@endpoint(
    bp,
    "POST",
    "webhooks",
    summary="Create a webhook",
    tags=TAGS,
    action=Action.WEBHOOK_MANAGE,
    body=WebhookCreate,
    response=WebhookCreated,
    status=201,
    errors=(401, 403, 422, 503),
    response_headers={"Location": "The new webhook's URL."},
)
def create_webhook(call: Call[None, None, WebhookCreate]) -> Reply:
    """ADMIN only. The answer carries the signing `secret` (`whsec_...`), and no other answer
    ever does: keep it. The URL is checked now and before every delivery: https in production,
    and never a loopback, private, link-local, multicast or metadata address. Matching events
    are delivered from the next change on."""
    hook = service.create(call.body, actor=call.user, settings=call.settings, session=call.session)
    return Reply(hook, status=201, headers={"Location": call.url_for(f"webhooks/{hook.id}"), **NO_STORE})


@endpoint(
    bp,
    "GET",
    "webhooks",
    summary="List webhooks",
    tags=TAGS,
    action=Action.WEBHOOK_MANAGE,
    response=list[WebhookOut],
    errors=(401, 403),
    read_only=True,
)
def list_webhooks(call: Call[None, None, None]) -> list[WebhookOut]:
    """ADMIN only. Oldest first; secrets are never shown."""
    return service.list_hooks(session=call.session)


@endpoint(
    bp,
    "GET",
    "webhooks/{webhook_id:guid}",
    summary="Get a webhook",
    tags=TAGS,
    action=Action.WEBHOOK_MANAGE,
    path=WebhookPath,
    response=WebhookOut,
    errors=ADMIN_ERRORS,
    read_only=True,
)
def get_webhook(call: Call[WebhookPath, None, None]) -> WebhookOut:
    """ADMIN only. `disabled_reason` says why a hook stopped (410, failures, its owner's role)."""
    return service.get(call.path.webhook_id, session=call.session)


@endpoint(
    bp,
    "PATCH",
    "webhooks/{webhook_id:guid}",
    summary="Change a webhook",
    tags=TAGS,
    action=Action.WEBHOOK_MANAGE,
    path=WebhookPath,
    body=WebhookUpdate,
    response=WebhookOut,
    errors=(*ADMIN_ERRORS, 422),
)
def update_webhook(call: Call[WebhookPath, None, WebhookUpdate]) -> WebhookOut:
    """ADMIN only. Send the fields to change. `active: true` re-enables a disabled hook; its
    pending deliveries resume. The caller becomes the hook's `owner_id`."""
    return service.update(
        call.path.webhook_id, call.body, actor=call.user, settings=call.settings, session=call.session
    )


@endpoint(
    bp,
    "DELETE",
    "webhooks/{webhook_id:guid}",
    summary="Delete a webhook",
    tags=TAGS,
    action=Action.WEBHOOK_MANAGE,
    path=WebhookPath,
    response=Deleted,
    errors=ADMIN_ERRORS,
)
def delete_webhook(call: Call[WebhookPath, None, None]) -> Deleted:
    """ADMIN only. Its deliveries and their log go with it."""
    service.delete(call.path.webhook_id, session=call.session)
    return Deleted(id=call.path.webhook_id, message="The webhook was deleted.")


@endpoint(
    bp,
    "POST",
    "webhooks/{webhook_id:guid}/rotate-secret",
    summary="Rotate a webhook's signing secret",
    tags=TAGS,
    action=Action.WEBHOOK_MANAGE,
    path=WebhookPath,
    response=SecretOut,
    errors=(*ADMIN_ERRORS, 503),
)
def rotate_webhook_secret(call: Call[WebhookPath, None, None]) -> Reply:
    """ADMIN only. Answers the new secret (once). For 24 hours every delivery carries two
    signatures in `webhook-signature`, one per secret, so receivers can switch at leisure."""
    secret = service.rotate_secret(
        call.path.webhook_id, actor=call.user, settings=call.settings, session=call.session
    )
    return Reply(secret, headers=NO_STORE)


@endpoint(
    bp,
    "POST",
    "webhooks/{webhook_id:guid}/ping",
    summary="Send a ping delivery now",
    tags=TAGS,
    action=Action.WEBHOOK_MANAGE,
    path=WebhookPath,
    response=DeliveryDetail,
    errors=(*ADMIN_ERRORS, 503),
)
def ping_webhook(call: Call[WebhookPath, None, None]) -> DeliveryDetail:
    """ADMIN only. Sends `{"type": "ping", ...}` once, signed like any delivery, and answers with
    the attempt (status code, excerpt or error class). Bounded by WEBHOOK_TIMEOUT_SECONDS; not
    retried, and not counted towards disabling the hook. A failed ping still answers 200."""
    return service.ping(call.path.webhook_id, actor=call.user, settings=call.settings, session=call.session)


@endpoint(
    bp,
    "GET",
    "webhooks/{webhook_id:guid}/deliveries",
    summary="A webhook's delivery log",
    tags=TAGS,
    action=Action.WEBHOOK_MANAGE,
    path=WebhookPath,
    query=DeliveriesQuery,
    response=DeliveriesPage,
    errors=(*ADMIN_ERRORS, 422),
    read_only=True,
)
def list_webhook_deliveries(call: Call[WebhookPath, DeliveriesQuery, None]) -> DeliveriesPage:
    """ADMIN only. Newest first; page with `before=<next_before>`, filter with `outcome`.
    Finished deliveries are kept WEBHOOK_DELIVERY_RETENTION_DAYS days."""
    return service.deliveries(call.path.webhook_id, call.query, session=call.session)


@endpoint(
    bp,
    "GET",
    "webhooks/{webhook_id:guid}/deliveries/{delivery_id:long}",
    summary="One delivery with its attempts",
    tags=TAGS,
    action=Action.WEBHOOK_MANAGE,
    path=DeliveryPath,
    response=DeliveryDetail,
    errors=(*ADMIN_ERRORS, 422),
    read_only=True,
)
def get_webhook_delivery(call: Call[DeliveryPath, None, None]) -> DeliveryDetail:
    """ADMIN only. Every attempt: request headers (without the signature), status code, duration,
    the first kilobyte of the answer, or the error class."""
    return service.deliveries_detail(call.path.webhook_id, call.path.delivery_id, session=call.session)


@endpoint(
    bp,
    "POST",
    "webhooks/{webhook_id:guid}/deliveries/{delivery_id:long}/redeliver",
    summary="Deliver a message again",
    tags=TAGS,
    action=Action.WEBHOOK_MANAGE,
    path=DeliveryPath,
    response=DeliveryOut,
    status=202,
    errors=(*ADMIN_ERRORS, 409, 422),
)
def redeliver_webhook_delivery(call: Call[DeliveryPath, None, None]) -> Reply:
    """ADMIN only. Queues a new delivery of the same message (same `webhook-id`, so a receiver
    that already has it can tell), due now, with the usual retries. 409 for a ping or a
    disabled hook."""
    queued = service.redeliver(call.path.webhook_id, call.path.delivery_id, session=call.session)
    return Reply(queued, status=202)


@scheduled(bp, "deliver_webhooks", schedule="%WEBHOOK_SCHEDULE%")
def deliver_webhooks(timer: Run) -> None:
    """Send due webhook deliveries (claimed with SKIP LOCKED), record attempts, prune old ones."""
    run = delivery.run(settings=timer.settings)
    if run.claimed or run.pruned:
        log.info(
            "webhooks: claimed %d, succeeded %d, failed %d, gave up %d, disabled %d hooks, pruned %d",
            run.claimed,
            run.succeeded,
            run.failed,
            run.gave_up,
            run.disabled,
            run.pruned,
        )
