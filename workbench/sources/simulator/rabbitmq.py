"""RabbitMQ cluster model: ready and unacked from publish, deliver and ack with prefetch.

Mechanics, vectorised over queues and time:

- Publishers offer ``rate x step`` messages; while a memory or disk alarm is raised anywhere
  in the cluster every publisher is blocked, and the blocked publishes go out when it
  clears (a Lindley backlog on the client side).
- Each queue drains at ``consumers x capacity`` per step; the queue's backlog follows
  Lindley's recursion. Messages being processed (Little's law: throughput x processing time)
  sit with consumers. ``unacked = min(total, prefetch x consumers)`` and the rest is ready,
  so ``ready + unacked`` changes by exactly published - acked - dead-lettered each step.
- Every delivery ends in an ack, a nack with requeue (redelivered) or a reject (dead-lettered
  into the queue's DLQ, which is simulated after its sources). Consumers that disconnect
  hand their unacked messages back; those are redelivered.
- Node memory = base + messages held x bytes per message (+ incident overshoot); the alarm
  fires at the high watermark. Disk alarms fire below the free-disk limit.

Entities: queue ``name`` on vhost ``/``, else ``vhost/name``; node
``rabbit@<cluster>-server-<i>``; cluster = name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from workbench.sources.simulator.core import (
    F64,
    Block,
    counts_from_rate,
    event_coverage,
    lindley,
    onehot,
    time_at_count,
)
from workbench.sources.simulator.incidents import TruthRow, recovery_index, rose, step_window, target_error
from workbench.sources.simulator.load import Calendar, load_rates
from workbench.sources.simulator.spec import IncidentSpec, RabbitClusterSpec, rabbit_entity

__all__ = ["RabbitModel", "node_name", "rabbit_blocks", "simulate_rabbit"]

I64 = NDArray[np.int64]
_RESTART_PAUSE_S = 10.0


def node_name(cluster: str, index: int) -> str:
    """RabbitMQ node name as ``rabbitmq_identity_info`` reports it."""
    return f"rabbit@{cluster}-server-{index}"


@dataclass
class RabbitModel:
    """Mechanics arrays for one RabbitMQ cluster (rows = queues in spec order)."""

    spec: RabbitClusterSpec
    calendar: Calendar
    published: F64  # (Q, T) messages per step entering each queue from publishers
    dead_lettered_in: F64  # (Q, T) messages arriving from source queues (DLX)
    ready: F64
    unacked: F64
    acked: F64
    rejected: F64  # dead-lettered (or dropped) out of the queue
    redelivered: F64
    delivered: F64
    consumers: F64
    head_age_s: F64  # age of the head (oldest ready) message, NaN when nothing is ready
    memory_bytes: F64  # (N, T)
    memory_alarm: F64  # (N, T)
    disk_free_bytes: F64
    disk_alarm: F64
    node_up: NDArray[np.bool_]
    blocked: NDArray[np.bool_]  # (T,)
    truth: list[TruthRow] = field(default_factory=list)

    @property
    def entities(self) -> list[str]:
        """Queue entities in row order."""
        return [q.entity for q in self.spec.queues]


def simulate_rabbit(
    spec: RabbitClusterSpec, calendar: Calendar, incidents: list[IncidentSpec], rng: np.random.Generator
) -> RabbitModel:
    """Run the RabbitMQ mechanics for one cluster.

    Examples
    --------
    >>> import datetime as dt, numpy as np
    >>> from workbench.sources.simulator.library import get_scenario
    >>> cal = Calendar.build(dt.datetime(2026, 1, 5, tzinfo=dt.UTC), steps=120, step_seconds=60)
    >>> m = simulate_rabbit(get_scenario("memory-alarm").rabbitmq[0], cal, [], np.random.default_rng(0))
    >>> total = m.ready + m.unacked
    >>> bool((np.diff(total, axis=1) == (m.published + m.dead_lettered_in - m.acked - m.rejected)[:, 1:]).all())
    True
    """
    T, dt = calendar.steps, calendar.step_seconds
    queues = spec.queues
    n_q, n_nodes = len(queues), spec.nodes
    entities = [q.entity for q in queues]
    row_of = {e: i for i, e in enumerate(entities)}
    home = np.array([q.node for q in queues])
    by_kind: dict[str, list[IncidentSpec]] = {}
    for inc in incidents:
        by_kind.setdefault(inc.kind, []).append(inc)

    rates = load_rates([q.load for q in queues], calendar, rng)
    consumers = np.array([q.consumers for q in queues], dtype=np.float64).reshape(-1, 1).repeat(T, axis=1)
    factor = np.ones((n_q, T))
    nack = np.array([q.nack_ratio for q in queues]).reshape(-1, 1).repeat(T, axis=1)
    reject = np.array([q.reject_ratio for q in queues]).reshape(-1, 1).repeat(T, axis=1)
    for inc in (
        by_kind.get("load_spike", [])
        + by_kind.get("slow_consumer", [])
        + by_kind.get("consumer_crash", [])
        + by_kind.get("poison_message", [])
    ):
        if inc.target not in row_of:
            raise target_error(inc, entities)
        r = row_of[inc.target]
        i0, i1 = step_window(inc, calendar)
        if inc.kind == "load_spike":
            rates[r, i0:i1] *= inc.magnitude
        elif inc.kind == "slow_consumer":
            factor[r, i0:i1] *= inc.magnitude
        elif inc.kind == "consumer_crash":
            consumers[r, i0:i1] = np.floor(consumers[r, i0:i1] * (1.0 - min(inc.magnitude, 1.0)))
        else:  # poison messages: a share of deliveries is rejected (retried once on average first)
            share = min(inc.magnitude, 0.95)
            reject[r, i0:i1] = np.maximum(reject[r, i0:i1], share)
            nack[r, i0:i1] = np.minimum(nack[r, i0:i1] + share * 0.5, 0.95 - reject[r, i0:i1])

    node_up = np.ones((n_nodes, T), dtype=bool)
    pause = np.zeros((n_q, T))
    restarts: list[tuple[IncidentSpec, int, int]] = []
    for inc in by_kind.get("rolling_restart", []):
        i0, i1 = step_window(inc, calendar)
        per = max(1, (i1 - i0) // n_nodes)
        down_steps = max(1, round(inc.magnitude * 60 / dt))
        for n in range(n_nodes):
            s = i0 + n * per
            node_up[n, s : min(s + down_steps, T)] = False
        restarts.append((inc, i0, i1))
    if restarts:
        for n in range(n_nodes):  # clients of the restarting node reconnect elsewhere
            down = ~node_up[n]
            lost = np.ceil(consumers / n_nodes)
            consumers = np.where(down.reshape(1, -1), np.maximum(consumers - lost, 0.0), consumers)
            on_node = home == n
            classic = np.array([q.type == "classic" for q in queues])
            # a classic queue is unavailable while its node is down; a quorum queue elects a new leader
            pause[on_node & classic] = np.maximum(pause[on_node & classic], down.astype(np.float64))
            went = np.zeros(T)
            went[1:] = (down[1:] & ~down[:-1]).astype(np.float64)
            election = event_coverage(went.reshape(1, -1), _RESTART_PAUSE_S, dt)[0]
            pause[on_node & ~classic] = np.maximum(pause[on_node & ~classic], election)

    extra_memory = np.zeros((n_nodes, T))
    disk_drop = np.zeros((n_nodes, T))
    for inc in by_kind.get("memory_alarm", []) + by_kind.get("disk_alarm", []):
        try:
            node = int(inc.target)
        except ValueError:
            node = -1
        if not 0 <= node < n_nodes:
            raise target_error(inc, [str(n) for n in range(n_nodes)])
        i0, i1 = step_window(inc, calendar)
        ramp_steps = max(1, (i1 - i0) // 4)
        ramp = np.minimum(np.arange(1, i1 - i0 + 1) / ramp_steps, 1.0)
        if inc.kind == "memory_alarm":
            overshoot = spec.memory_limit_bytes * max(inc.magnitude, 1.0) - spec.base_memory_bytes
            extra_memory[node, i0:i1] = np.maximum(extra_memory[node, i0:i1], ramp * overshoot)
        else:
            drop = spec.disk_free_bytes - spec.disk_free_limit_bytes / max(inc.magnitude, 1.0) * 0.5
            disk_drop[node, i0:i1] = np.maximum(disk_drop[node, i0:i1], ramp * drop)

    disk_free = (
        spec.disk_free_bytes
        - disk_drop
        + rng.normal(0, spec.disk_free_bytes * 1e-4, size=(n_nodes, T)).cumsum(axis=1) * 0.01
    )
    disk_alarm = (disk_free < spec.disk_free_limit_bytes).astype(np.float64)

    is_dlq = np.zeros(n_q, dtype=bool)
    dlq_of = np.full(n_q, -1)
    for i, q in enumerate(queues):
        if q.dead_letter_queue is not None:
            dlq_of[i] = row_of[rabbit_entity(q.vhost, q.dead_letter_queue)]
            is_dlq[dlq_of[i]] = True
    capacity = (
        np.array([q.capacity_per_consumer for q in queues]).reshape(-1, 1)
        * consumers
        * factor
        * (1.0 - pause)
        * dt
    )
    capacity = counts_from_rate(capacity)
    prefetch = np.array([q.prefetch for q in queues], dtype=np.float64).reshape(-1, 1)
    proc = np.array([min(q.processing_time.total_seconds(), dt) for q in queues]).reshape(-1, 1)
    q0 = np.floor(rng.uniform(0, 2, size=n_q) * np.maximum(rates[:, 0], 0.1))

    def run(blocked: NDArray[np.bool_]) -> dict[str, F64]:
        demand = counts_from_rate(rates * dt * (1.0 - pause * (home_classic.reshape(-1, 1))))
        # blocked publishers hold their messages and send them when the alarm clears
        cum = np.cumsum(demand, axis=1)
        last_open = np.maximum.accumulate(np.where(blocked, -1, np.arange(T)))
        sent_cum = np.where(last_open >= 0, cum[:, np.maximum(last_open, 0)], 0.0)
        published = np.diff(sent_cum, axis=1, prepend=0.0)
        flows = {
            k: np.zeros((n_q, T))
            for k in ("dl_in", "backlog", "total", "acked", "rejected", "redelivered", "delivered", "unacked")
        }
        for tier in (~is_dlq, is_dlq):  # sources first, then their dead-letter queues
            rows = np.flatnonzero(tier)
            if rows.size == 0:
                continue
            arrivals = published[rows] + flows["dl_in"][rows]
            backlog = lindley(arrivals, capacity[rows], q0[rows])
            prev = np.concatenate([q0[rows].reshape(-1, 1), backlog[:, :-1]], axis=1)
            dep = prev + arrivals - backlog
            in_service = np.minimum(prefetch[rows] * consumers[rows], np.floor(dep * proc[rows] / dt))
            total = backlog + in_service
            prev_total = np.concatenate([(q0[rows] + in_service[:, 0]).reshape(-1, 1), total[:, :-1]], axis=1)
            departed = prev_total + arrivals - total
            ack_share = 1.0 - nack[rows] - reject[rows]
            acked = counts_from_rate(departed * ack_share / (ack_share + reject[rows]))
            acked = np.minimum(acked, departed)
            rejected = departed - acked
            unacked = np.where(consumers[rows] > 0, np.minimum(total, prefetch[rows] * consumers[rows]), 0.0)
            handed_back = np.maximum(np.concatenate([unacked[:, :1], unacked[:, :-1]], axis=1) - unacked, 0.0)
            handed_back *= np.concatenate(
                [np.zeros((rows.size, 1)), (np.diff(consumers[rows], axis=1) < 0)], axis=1
            )
            redelivered = counts_from_rate(departed * nack[rows] / (ack_share + reject[rows])) + handed_back
            flows["backlog"][rows] = backlog
            flows["total"][rows] = total
            flows["acked"][rows] = acked
            flows["rejected"][rows] = rejected
            flows["redelivered"][rows] = redelivered
            flows["delivered"][rows] = acked + rejected + redelivered
            flows["unacked"][rows] = unacked
            for src in rows:
                if dlq_of[src] >= 0:
                    flows["dl_in"][dlq_of[src]] += rejected[np.flatnonzero(rows == src)[0]]
        flows["published"] = published
        return flows

    home_classic = np.array([q.type == "classic" for q in queues], dtype=np.float64)
    on_node = onehot(home, n_nodes)

    def memory_of(total: F64) -> F64:
        held = on_node @ total * spec.ram_bytes_per_message
        wobble = 1.0 + 0.02 * np.sin(np.arange(T) * 2 * np.pi / max(1.0, 900.0 / dt)).reshape(1, -1)
        memory: F64 = spec.base_memory_bytes * wobble + held + extra_memory
        return memory

    flows = run(np.zeros(T, dtype=bool))
    memory = memory_of(flows["total"])
    alarm = (memory >= spec.memory_limit_bytes).astype(np.float64)
    blocked = (alarm.max(axis=0) > 0) | (disk_alarm.max(axis=0) > 0)
    if blocked.any():
        flows = run(blocked)
        memory = memory_of(flows["total"])
        # the alarm stays until memory falls below the watermark again; keep the two consistent
        memory = np.where(alarm > 0, np.maximum(memory, spec.memory_limit_bytes * 1.001), memory)

    total = flows["total"]
    ready = total - flows["unacked"]
    arrivals_cum = np.cumsum(flows["published"] + flows["dl_in"], axis=1) + q0.reshape(-1, 1)
    taken_cum = arrivals_cum - ready  # messages that left the ready list (FIFO)
    reached = time_at_count(arrivals_cum, taken_cum + 1.0, calendar.seconds)
    head_age = np.where(ready > 0, np.maximum(calendar.seconds.reshape(1, -1) - reached, 0.0), np.nan)

    model = RabbitModel(
        spec=spec,
        calendar=calendar,
        published=flows["published"],
        dead_lettered_in=flows["dl_in"],
        ready=ready,
        unacked=flows["unacked"],
        acked=flows["acked"],
        rejected=flows["rejected"],
        redelivered=flows["redelivered"],
        delivered=flows["delivered"],
        consumers=consumers,
        head_age_s=head_age,
        memory_bytes=memory,
        memory_alarm=alarm,
        disk_free_bytes=disk_free,
        disk_alarm=disk_alarm,
        node_up=node_up,
        blocked=blocked,
    )
    model.truth = _ground_truth(model, by_kind, restarts, row_of, dlq_of)
    return model


def _ground_truth(
    model: RabbitModel,
    by_kind: dict[str, list[IncidentSpec]],
    restarts: list[tuple[IncidentSpec, int, int]],
    row_of: dict[str, int],
    dlq_of: I64,
) -> list[TruthRow]:
    rows: list[TruthRow] = []
    cal = model.calendar
    entities = model.entities
    for kind in ("slow_consumer", "consumer_crash", "load_spike"):
        for inc in by_kind.get(kind, []):
            r = row_of[inc.target]
            i0, i1 = step_window(inc, cal)
            metrics = {
                "slow_consumer": ["acked_per_s"],
                "consumer_crash": ["consumers"],
                "load_spike": ["messages_in_per_s"],
            }[kind]
            end = i1
            depth = model.ready[r]
            if rose(depth, i0, i1 + 1):
                metrics = [*metrics, "queue_depth_messages"]
                if model.spec.queues[r].type == "classic":
                    metrics.append("oldest_message_age_s")
                end = max(end, recovery_index(depth, i0, i1))
            rows.append(TruthRow(inc, "rabbitmq", i0, end, [inc.target], metrics))
    for inc in by_kind.get("poison_message", []):
        r = row_of[inc.target]
        i0, i1 = step_window(inc, cal)
        ents = [inc.target]
        metrics = ["dead_lettered_per_s", "redelivered_per_s"]
        if dlq_of[r] >= 0:
            ents.append(entities[dlq_of[r]])
            metrics.append("dlq_depth_messages")
        rows.append(TruthRow(inc, "rabbitmq", i0, i1, ents, metrics))
    for kind, metric in (("memory_alarm", "memory_alarm"), ("disk_alarm", "disk_alarm")):
        for inc in by_kind.get(kind, []):
            node = int(inc.target)
            i0, i1 = step_window(inc, cal)
            ents = [node_name(model.spec.name, node)]
            metrics = [metric, "memory_used_bytes" if kind == "memory_alarm" else "disk_free_bytes"]
            if model.blocked[i0:i1].any():
                metrics.append("messages_in_per_s")
                ents += entities
            rows.append(TruthRow(inc, "rabbitmq", i0, i1, ents, metrics))
    for inc, i0, i1 in restarts:
        ents = [node_name(model.spec.name, n) for n in range(model.spec.nodes)]
        rows.append(TruthRow(inc, "rabbitmq", i0, i1, ents + entities, ["consumers", "redelivered_per_s"]))
    return rows


def rabbit_blocks(model: RabbitModel) -> list[Block]:
    """Canonical blocks of a RabbitMQ model."""
    spec, cal = model.spec, model.calendar
    dt, T = cal.step_seconds, cal.steps
    name = spec.name
    queues = spec.queues
    ents = model.entities
    nodes = [node_name(name, n) for n in range(spec.nodes)]
    home = np.array([q.node for q in queues])
    on_node = onehot(home, spec.nodes)
    node_down = ~model.node_up
    is_dlq = np.zeros(len(queues), dtype=bool)
    for q in queues:
        if q.dead_letter_queue is not None:
            is_dlq[ents.index(rabbit_entity(q.vhost, q.dead_letter_queue))] = True
    classic = np.array([q.type == "classic" for q in queues])
    out: list[Block] = []

    def add(level: str, metric: str, entities: list[str], values: F64) -> None:
        out.append(Block("rabbitmq", name, level, metric, entities, values))

    in_rate = model.published / dt
    rates = {
        "messages_in_per_s": in_rate,
        "messages_out_per_s": model.delivered / dt,
        "acked_per_s": model.acked / dt,
        "redelivered_per_s": model.redelivered / dt,
        "dead_lettered_per_s": model.rejected / dt,
    }
    add("queue", "queue_depth_messages", ents, model.ready)
    add("queue", "messages_unacked", ents, model.unacked)
    add("queue", "consumers", ents, model.consumers)
    for metric, values in rates.items():
        add("queue", metric, ents, values)
    if classic.any():
        age = np.where(np.isnan(model.head_age_s), 0.0, model.head_age_s)
        add(
            "queue",
            "oldest_message_age_s",
            [e for e, c in zip(ents, classic, strict=True) if c],
            age[classic],
        )
    if is_dlq.any():
        add(
            "queue",
            "dlq_depth_messages",
            [e for e, d in zip(ents, is_dlq, strict=True) if d],
            (model.ready + model.unacked)[is_dlq],
        )

    node_values = {
        "queue_depth_messages": on_node @ model.ready,
        "messages_unacked": on_node @ model.unacked,
        "consumers": on_node @ model.consumers,
        "messages_in_per_s": on_node @ in_rate,
        "published_per_s": on_node @ (in_rate),
        "messages_out_per_s": on_node @ rates["messages_out_per_s"],
        "acked_per_s": on_node @ rates["acked_per_s"],
        "redelivered_per_s": on_node @ rates["redelivered_per_s"],
        "dead_lettered_per_s": on_node @ rates["dead_lettered_per_s"],
        "memory_used_bytes": model.memory_bytes,
        "memory_limit_bytes": np.full((spec.nodes, T), spec.memory_limit_bytes),
        "disk_free_bytes": model.disk_free_bytes,
        "memory_alarm": model.memory_alarm,
        "disk_alarm": model.disk_alarm,
        "connections": np.round(
            5.0
            + (model.consumers.sum(axis=0) + len(queues)).reshape(1, -1)
            / spec.nodes
            * np.ones((spec.nodes, 1))
        ),
    }
    for metric, values in node_values.items():
        add("node", metric, nodes, np.where(node_down, np.nan, values))

    cluster = [name]
    add("cluster", "queue_depth_messages", cluster, model.ready.sum(axis=0, keepdims=True))
    add("cluster", "messages_unacked", cluster, model.unacked.sum(axis=0, keepdims=True))
    add("cluster", "messages_in_per_s", cluster, in_rate.sum(axis=0, keepdims=True))
    add("cluster", "published_per_s", cluster, in_rate.sum(axis=0, keepdims=True))
    add("cluster", "messages_out_per_s", cluster, rates["messages_out_per_s"].sum(axis=0, keepdims=True))
    add("cluster", "consumers", cluster, model.consumers.sum(axis=0, keepdims=True))
    add("cluster", "memory_alarm", cluster, model.memory_alarm.max(axis=0, keepdims=True))
    add("cluster", "disk_alarm", cluster, model.disk_alarm.max(axis=0, keepdims=True))
    if is_dlq.any():
        add(
            "cluster",
            "dlq_depth_messages",
            cluster,
            (model.ready + model.unacked)[is_dlq].sum(axis=0, keepdims=True),
        )
    return out
