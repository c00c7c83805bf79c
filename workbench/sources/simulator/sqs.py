"""SQS model: visible and in-flight messages, visibility timeout, receive counts, redrive.

Messages are tracked by receive count. Class ``j`` holds messages that have been received
``j - 1`` times; each class is a queue served (fresh messages first) by what is left of the
pollers' receive capacity, solved with Lindley's recursion. A received message is deleted
if processing succeeds within the visibility timeout; otherwise (a failure, a poison
message, or processing slower than the timeout) it stays invisible for the visibility
timeout and then reappears in the next class. With a redrive policy, a message that comes
back after its ``maxReceiveCount``-th receive moves to the dead-letter queue, so the DLQ
receives exactly the messages past ``maxReceiveCount``. Without one, messages are given up
after 10 receives (standing in for the retention period).

CloudWatch semantics: counts (sent, received, deleted, empty receives) are sums per period;
levels (visible, not visible) are sampled; messages moved by redrive are not counted in the
DLQ's ``NumberOfMessagesSent``; the age of the oldest message ignores messages received
three or more times and restarts when a message moves to the DLQ.

Entity: the queue name; cluster ``aws-<account>-<region>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from workbench.sources.simulator.core import F64, Block, counts_from_rate, lindley, time_at_count
from workbench.sources.simulator.incidents import TruthRow, recovery_index, rose, step_window, target_error
from workbench.sources.simulator.load import Calendar, load_rates
from workbench.sources.simulator.spec import IncidentSpec, SqsAccountSpec

__all__ = ["SqsModel", "simulate_sqs", "sqs_blocks"]

_NO_REDRIVE_CLASSES = 10


@dataclass
class SqsModel:
    """Mechanics arrays for one account/region (rows = queues in spec order)."""

    spec: SqsAccountSpec
    calendar: Calendar
    sent: F64  # NumberOfMessagesSent (producers only)
    redrive_in: F64  # messages moved into this queue by redrive
    received: F64
    deleted: F64
    re_received: F64  # receives of messages received before (duplicates / retries)
    moved_to_dlq: F64  # messages this queue redrove to its DLQ
    returned_last: F64  # failed receives of the last class (redrive or give-up)
    visible: F64
    returning: F64  # invisible after a failed/late receive, waiting for the timeout
    processing: F64  # invisible while being processed successfully
    age_s: F64
    empty_receives: F64
    visibility_steps: NDArray[np.int64]
    truth: list[TruthRow] = field(default_factory=list)

    @property
    def not_visible(self) -> F64:
        """ApproximateNumberOfMessagesNotVisible."""
        return self.returning + self.processing


def _norm_sf(x: F64) -> F64:
    from scipy.special import ndtr

    return np.asarray(1.0 - ndtr(x), dtype=np.float64)


def simulate_sqs(
    spec: SqsAccountSpec, calendar: Calendar, incidents: list[IncidentSpec], rng: np.random.Generator
) -> SqsModel:
    """Run the SQS mechanics for one account and region.

    Examples
    --------
    >>> import datetime as dt, numpy as np
    >>> from workbench.sources.simulator.library import get_scenario
    >>> cal = Calendar.build(dt.datetime(2026, 1, 5, tzinfo=dt.UTC), steps=600, step_seconds=60)
    >>> m = simulate_sqs(get_scenario("poison-message").sqs[0], cal, [], np.random.default_rng(0))
    >>> bool((m.visible >= 0).all()), m.sent[1].sum()  # the DLQ gets no producer sends
    (True, np.float64(0.0))
    """
    T, dt = calendar.steps, calendar.step_seconds
    queues = spec.queues
    n_q = len(queues)
    names = [q.name for q in queues]
    row_of = {n: i for i, n in enumerate(names)}
    by_kind: dict[str, list[IncidentSpec]] = {}
    for inc in incidents:
        by_kind.setdefault(inc.kind, []).append(inc)

    rates = load_rates([q.load for q in queues], calendar, rng)
    pollers = np.array([q.consumers for q in queues], dtype=np.float64).reshape(-1, 1).repeat(T, axis=1)
    factor = np.ones((n_q, T))
    failure = np.array([q.failure_ratio for q in queues]).reshape(-1, 1).repeat(T, axis=1)
    poison = np.zeros((n_q, T))
    vis = np.array([q.visibility_timeout.total_seconds() for q in queues])
    proc = np.array([q.processing_time.total_seconds() for q in queues]).reshape(-1, 1).repeat(T, axis=1)
    kinds = ("load_spike", "slow_consumer", "consumer_crash", "poison_message", "visibility_timeout_short")
    for inc in [inc for k in kinds for inc in by_kind.get(k, [])]:
        if inc.target not in row_of:
            raise target_error(inc, names)
        r = row_of[inc.target]
        i0, i1 = step_window(inc, calendar)
        if inc.kind == "load_spike":
            rates[r, i0:i1] *= inc.magnitude
        elif inc.kind == "slow_consumer":
            factor[r, i0:i1] *= inc.magnitude
        elif inc.kind == "consumer_crash":
            pollers[r, i0:i1] = np.floor(pollers[r, i0:i1] * (1.0 - min(inc.magnitude, 1.0)))
        elif inc.kind == "poison_message":
            poison[r, i0:i1] = min(inc.magnitude, 1.0)
        else:  # processing now takes `magnitude` visibility timeouts: messages reappear mid-work
            proc[r, i0:i1] = max(inc.magnitude, 1.0) * vis[r]

    spread = np.array([max(q.processing_time_spread, 1e-3) for q in queues]).reshape(-1, 1)
    late = _norm_sf(
        (np.log(vis.reshape(-1, 1)) - np.log(np.maximum(proc, 1e-3))) / spread
    )  # P(processing > timeout)
    k = np.maximum(1, np.round(vis / dt)).astype(np.int64)
    capacity_all = counts_from_rate(
        np.array([q.capacity_per_consumer for q in queues]).reshape(-1, 1) * pollers * factor * dt
    )
    classes = np.array([q.max_receive_count or _NO_REDRIVE_CLASSES for q in queues])
    dlq_of = np.array([row_of[q.dead_letter_queue] if q.dead_letter_queue else -1 for q in queues])
    is_dlq = np.isin(np.arange(n_q), dlq_of[dlq_of >= 0])

    sent = counts_from_rate(rates * dt)
    keys = (
        "received",
        "deleted",
        "re_received",
        "visible",
        "returning",
        "moved",
        "returned_last",
        "redrive_in",
    )
    out = {key: np.zeros((n_q, T)) for key in keys}
    fresh_backlog = np.zeros((n_q, T))
    class_backlog = np.zeros((n_q, 3, T))  # classes 1..3 for the age metric

    def run_classes(r: int, arrivals: F64, shares: F64 | None) -> list[dict[str, F64]]:
        """Receive classes of one queue; fresh-first priority, or fixed capacity shares."""
        left = capacity_all[r].copy()
        kr = int(k[r])
        result = []
        for j in range(1, int(classes[r]) + 1):
            cap = left if shares is None else np.floor(capacity_all[r] * shares[j - 1])
            backlog = lindley(arrivals.reshape(1, -1), cap.reshape(1, -1))[0]
            prev = np.concatenate([[0.0], backlog[:-1]])
            got = prev + arrivals - backlog
            left = left - got
            # poison share among class-j messages grows with j (the others got through)
            pj = (
                poison[r] / np.maximum(poison[r] + (1 - poison[r]) * failure[r] ** (j - 1), 1e-12)
                if j > 1
                else poison[r]
            )
            fail = pj + (1 - pj) * failure[r]
            ret_share = fail + (1 - fail) * late[r]
            returns = np.minimum(counts_from_rate((got * ret_share).reshape(1, -1))[0], got)
            shifted = np.concatenate([np.zeros(kr), returns[:-kr]]) if kr < T else np.zeros(T)
            result.append(
                {"arrivals": arrivals, "backlog": backlog, "got": got, "returns": returns, "shifted": shifted}
            )
            arrivals = shifted
        return result

    for tier in (~is_dlq, is_dlq):
        for r in np.flatnonzero(tier).tolist():  # per queue, vectorised over time and receive classes
            first = sent[r] + out["redrive_in"][r]
            result = run_classes(r, first, None)
            demand = np.array([np.concatenate([[0.0], c["backlog"][:-1]]) + c["arrivals"] for c in result])
            if demand[1:].sum() > 0:
                # returned messages compete with fresh ones (SQS is not a priority queue):
                # rerun with the capacity split by each class's share of the demand
                shares = demand / np.maximum(demand.sum(axis=0, keepdims=True), 1e-12)
                shares[0] = np.where(demand.sum(axis=0) > 0, shares[0], 1.0)
                result = run_classes(r, first, shares)
            kr = int(k[r])
            for j, c in enumerate(result, start=1):
                out["received"][r] += c["got"]
                out["deleted"][r] += c["got"] - c["returns"]
                if j > 1:
                    out["re_received"][r] += c["got"]
                out["visible"][r] += c["backlog"]
                if j <= 3:
                    class_backlog[r, j - 1] = c["backlog"]
                out["returning"][r] += _rolling_sum(c["returns"], kr)
            last = result[-1]
            out["returned_last"][r] = last["returns"]
            if dlq_of[r] >= 0:
                out["moved"][r] = last["shifted"]
                out["redrive_in"][dlq_of[r]] += last["shifted"]
            fresh_backlog[r] = result[0]["backlog"]
    processing = np.floor(np.minimum(out["deleted"] * np.minimum(proc, dt) / dt, out["deleted"]))

    # age of the oldest message (classes 1-3 only, as CloudWatch does)
    arrivals_cum = np.cumsum(sent + out["redrive_in"], axis=1)
    taken_cum = arrivals_cum - fresh_backlog
    reached = time_at_count(arrivals_cum, taken_cum + 1.0, calendar.seconds)
    age = np.where(fresh_backlog > 0, np.maximum(calendar.seconds.reshape(1, -1) - reached, 0.0), 0.0)
    for j in (2, 3):
        age = np.where(class_backlog[:, j - 1] > 0, np.maximum(age, (j - 1) * vis.reshape(-1, 1)), age)
    busy = (out["visible"] + out["returning"] + processing) > 0
    age = np.where(busy, np.maximum(age, np.minimum(proc, vis.reshape(-1, 1))), 0.0)

    wait = np.array([max(q.receive_wait.total_seconds(), 0.5) for q in queues]).reshape(-1, 1)
    util = np.where(capacity_all > 0, out["received"] / np.maximum(capacity_all, 1.0), 0.0)
    empty = np.round(pollers * dt / wait * np.clip(1.0 - util, 0.0, 1.0))

    model = SqsModel(
        spec=spec,
        calendar=calendar,
        sent=sent,
        redrive_in=out["redrive_in"],
        received=out["received"],
        deleted=out["deleted"],
        re_received=out["re_received"],
        moved_to_dlq=out["moved"],
        returned_last=out["returned_last"],
        visible=out["visible"],
        returning=out["returning"],
        processing=processing,
        age_s=age,
        empty_receives=empty,
        visibility_steps=k,
    )
    model.truth = _ground_truth(model, by_kind, row_of, dlq_of)
    return model


def _rolling_sum(values: F64, window: int) -> F64:
    cum = np.cumsum(values)
    out = cum.copy()
    if window < values.size:
        out[window:] = cum[window:] - cum[:-window]
    return out


def _ground_truth(
    model: SqsModel, by_kind: dict[str, list[IncidentSpec]], row_of: dict[str, int], dlq_of: NDArray[np.int64]
) -> list[TruthRow]:
    rows: list[TruthRow] = []
    cal = model.calendar
    names = [q.name for q in model.spec.queues]
    cluster_kinds = {
        "slow_consumer": ["messages_out_per_s"],
        "consumer_crash": ["messages_out_per_s"],
        "load_spike": ["messages_in_per_s"],
    }
    for kind, base_metrics in cluster_kinds.items():
        for inc in by_kind.get(kind, []):
            r = row_of[inc.target]
            i0, i1 = step_window(inc, cal)
            metrics = list(base_metrics)
            end = i1
            if rose(model.visible[r], i0, i1 + 1):
                metrics += ["queue_depth_messages", "oldest_message_age_s"]
                end = max(end, recovery_index(model.visible[r], i0, i1))
            rows.append(TruthRow(inc, "sqs", i0, end, [inc.target], metrics))
    for kind in ("poison_message", "visibility_timeout_short"):
        for inc in by_kind.get(kind, []):
            r = row_of[inc.target]
            i0, i1 = step_window(inc, cal)
            ents = [inc.target]
            metrics = ["redelivered_per_s", "messages_unacked"]
            end = min(
                cal.steps,
                i1 + int(model.visibility_steps[r]) * (model.spec.queues[r].max_receive_count or 1) + 1,
            )
            if dlq_of[r] >= 0 and model.moved_to_dlq[r, i0:end].sum() > 0:
                ents.append(names[dlq_of[r]])
                metrics += ["dead_lettered_per_s", "dlq_depth_messages"]
            rows.append(TruthRow(inc, "sqs", i0, end, ents, metrics))
    return rows


def sqs_blocks(model: SqsModel) -> list[Block]:
    """Canonical blocks of an SQS model."""
    spec, cal = model.spec, model.calendar
    dt = cal.step_seconds
    name = spec.cluster_name
    names = [q.name for q in spec.queues]
    dlq_rows = sorted({names.index(q.dead_letter_queue) for q in spec.queues if q.dead_letter_queue})
    out: list[Block] = []

    def add(level: str, metric: str, entities: list[str], values: F64) -> None:
        out.append(Block("sqs", name, level, metric, entities, values))

    add("queue", "queue_depth_messages", names, model.visible)
    add("queue", "messages_unacked", names, model.not_visible)
    add("queue", "oldest_message_age_s", names, model.age_s)
    add("queue", "messages_in_per_s", names, model.sent / dt)
    add("queue", "messages_out_per_s", names, model.received / dt)
    add("queue", "acked_per_s", names, model.deleted / dt)
    add("queue", "redelivered_per_s", names, model.re_received / dt)
    add("queue", "empty_receives_per_s", names, model.empty_receives / dt)
    add("queue", "dead_lettered_per_s", names, model.moved_to_dlq / dt)
    if dlq_rows:
        add(
            "queue",
            "dlq_depth_messages",
            [names[i] for i in dlq_rows],
            model.visible[dlq_rows] + model.not_visible[dlq_rows],
        )
    cluster = [name]
    add("cluster", "queue_depth_messages", cluster, model.visible.sum(axis=0, keepdims=True))
    add("cluster", "messages_unacked", cluster, model.not_visible.sum(axis=0, keepdims=True))
    add("cluster", "messages_in_per_s", cluster, model.sent.sum(axis=0, keepdims=True) / dt)
    add("cluster", "messages_out_per_s", cluster, model.received.sum(axis=0, keepdims=True) / dt)
    add("cluster", "oldest_message_age_s", cluster, model.age_s.max(axis=0, keepdims=True))
    if dlq_rows:
        add(
            "cluster",
            "dlq_depth_messages",
            cluster,
            (model.visible[dlq_rows] + model.not_visible[dlq_rows]).sum(axis=0, keepdims=True),
        )
    return out
