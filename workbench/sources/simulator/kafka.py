"""Kafka cluster model: offsets, consumer groups, replication and leader election.

Mechanics, all vectorised over partitions and time:

- Producers write ``rate(topic) x weight(partition)`` messages per step; weights follow a
  Zipf law of exponent ``key_skew`` (hot keys make hot partitions). The log-end offset is
  the integral cumulative count.
- Each (group, partition) is a queue served by the group's capacity: members x capacity per
  member, spread over the group's partitions (members beyond the partition count idle),
  minus rebalance and leader-election pauses. Consumed lag follows Lindley's recursion, so
  ``lag = log-end offset - committed offset`` follows from produced vs consumed and is never
  negative. Commits trail consumption by up to one commit interval.
- Replicas sit on brokers round-robin. A broker that goes down drops out of every ISR it was
  in (under-replicated partitions), leaders it held move to the next in-sync replica, and a
  partition with no in-sync replica left goes offline (no produce, no consume). The replica
  rejoins the ISR after catching up, and preferred leaders come back 5 minutes later.
- Produce latency rises with broker load, and spikes for ``replica.lag.time.max.ms`` (30 s)
  when a follower dies and acks=all requests wait for the ISR to shrink.

Entities: partition ``topic/partition``, consumer group x topic ``group/topic``, group x
partition ``group/topic/partition`` (partition level), broker ``"<id>"``, cluster = name.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from workbench.sources.simulator.core import F64, event_coverage, floor_cumsum, lindley, onehot, time_at_count
from workbench.sources.simulator.incidents import TruthRow, recovery_index, rose, step_window, target_error
from workbench.sources.simulator.load import Calendar, load_rates
from workbench.sources.simulator.spec import IncidentSpec, KafkaClusterSpec, KafkaGroupSpec

__all__ = ["KafkaModel", "simulate_kafka"]

I64 = NDArray[np.int64]
_REPLICA_LAG_MAX_S = 30.0
_PREFERRED_ELECTION_DELAY_S = 300.0
_ELECTION_PAUSE_S = 60.0  # consumers refresh metadata and rebuild fetch sessions


@dataclass
class KafkaModel:
    """Everything the mechanics produced for one cluster (arrays over partitions and time)."""

    spec: KafkaClusterSpec
    calendar: Calendar
    topic_of: I64  # (P,)
    partition_no: I64  # (P,)
    replicas: I64  # (P, max RF), -1 padded
    produced: F64  # (P, T) messages per step
    leo: F64  # (P, T) log-end offset
    oldest: F64  # (P, T)
    leader: F64  # (P, T) broker id, -1 offline
    isr: F64  # (P, T)
    offline: NDArray[np.bool_]  # (P, T)
    broker_up: NDArray[np.bool_]  # (B, T)
    produce_latency_p99_ms: F64  # (B, T)
    gp_group: I64  # (GP,)
    gp_partition: I64  # (GP,)
    consumed: F64  # (GP, T) messages per step
    committed: F64  # (GP, T)
    lag: F64  # (GP, T) leo - committed
    lag_seconds: F64  # (GP, T)
    members: F64  # (G, T)
    truth: list[TruthRow] = field(default_factory=list)

    @property
    def partition_entities(self) -> list[str]:
        """``topic/partition`` per partition row."""
        names = [t.name for t in self.spec.topics]
        return [f"{names[t]}/{p}" for t, p in zip(self.topic_of, self.partition_no, strict=True)]


def _partition_weights(skew: float, n: int, rng: np.random.Generator) -> F64:
    ranks = rng.permutation(n) + 1.0
    weights = ranks ** (-skew) if skew > 0 else np.ones(n)
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def simulate_kafka(
    spec: KafkaClusterSpec, calendar: Calendar, incidents: list[IncidentSpec], rng: np.random.Generator
) -> KafkaModel:
    """Run the Kafka mechanics for one cluster.

    Examples
    --------
    >>> import datetime as dt, numpy as np
    >>> from workbench.sources.simulator.library import get_scenario
    >>> cal = Calendar.build(dt.datetime(2026, 1, 5, tzinfo=dt.UTC), steps=120, step_seconds=60)
    >>> m = simulate_kafka(get_scenario("hot-partition").kafka[0], cal, [], np.random.default_rng(0))
    >>> bool((m.lag >= 0).all()), bool((m.lag == m.leo[m.gp_partition] - m.committed).all())
    (True, True)
    """
    T, dt = calendar.steps, calendar.step_seconds
    topics = spec.topics
    n_brokers = spec.brokers
    topic_index = {t.name: i for i, t in enumerate(topics)}

    topic_rates = load_rates([t.load for t in topics], calendar, rng)  # (nT, T)
    sizes = np.array([t.partitions for t in topics])
    topic_of = np.repeat(np.arange(len(topics)), sizes)
    partition_no = np.concatenate([np.arange(s) for s in sizes])
    n_part = topic_of.size
    weights = np.concatenate([_partition_weights(t.key_skew, t.partitions, rng) for t in topics])
    entities = [f"{topics[t].name}/{p}" for t, p in zip(topic_of, partition_no, strict=True)]
    entity_row = {e: i for i, e in enumerate(entities)}

    max_rf = max(t.replication_factor for t in topics)
    replicas = np.full((n_part, max_rf), -1, dtype=np.int64)
    topic_offset = rng.integers(0, n_brokers, size=len(topics))
    for r in range(max_rf):
        has = np.array([topics[t].replication_factor > r for t in topic_of])
        replicas[has, r] = (topic_offset[topic_of[has]] + partition_no[has] + r) % n_brokers
    rf = (replicas >= 0).sum(axis=1)

    by_kind: dict[str, list[IncidentSpec]] = {}
    for inc in incidents:
        by_kind.setdefault(inc.kind, []).append(inc)
    # --- producers: load spikes and hot partitions -------------------------------------
    for inc in by_kind.get("load_spike", []):
        if inc.target not in topic_index:
            raise target_error(inc, list(topic_index))
        i0, i1 = step_window(inc, calendar)
        topic_rates[topic_index[inc.target], i0:i1] *= inc.magnitude
    share = np.broadcast_to(weights.reshape(-1, 1), (n_part, T)).copy()
    for inc in by_kind.get("hot_partition", []):
        if inc.target not in entity_row:
            raise target_error(inc, entities)
        row = entity_row[inc.target]
        i0, i1 = step_window(inc, calendar)
        siblings = topic_of == topic_of[row]
        hot = min(max(inc.magnitude, weights[row]), 0.99)
        others = siblings & (np.arange(n_part) != row)
        rest = weights[others].sum()
        share[others, i0:i1] = (weights[others] * (1.0 - hot) / max(rest, 1e-12)).reshape(-1, 1)
        share[row, i0:i1] = hot

    # --- brokers: failures and rolling restarts ------------------------------------------
    broker_up = np.ones((n_brokers, T), dtype=bool)
    down_events: list[tuple[IncidentSpec, list[int], int, int]] = []
    for inc in by_kind.get("broker_failure", []):
        try:
            broker = int(inc.target)
        except ValueError:
            broker = -1
        if not 0 <= broker < n_brokers:
            raise target_error(inc, [str(b) for b in range(n_brokers)])
        i0, i1 = step_window(inc, calendar)
        broker_up[broker, i0:i1] = False
        down_events.append((inc, [broker], i0, i1))
    for inc in by_kind.get("rolling_restart", []):
        i0, i1 = step_window(inc, calendar)
        per = max(1, (i1 - i0) // n_brokers)
        down_steps = max(1, round(inc.magnitude * 60 / dt))
        for b in range(n_brokers):
            s = i0 + b * per
            broker_up[b, s : min(s + down_steps, T)] = False
        down_events.append((inc, list(range(n_brokers)), i0, i1))

    # a replica is in sync once it is up again and has caught up; it leads again only after
    # the preferred-leader election (auto.leader.rebalance, checked every 5 minutes)
    came_back = np.zeros((n_brokers, T), dtype=bool)
    came_back[:, 1:] = broker_up[:, 1:] & ~broker_up[:, :-1]
    in_sync = broker_up.copy()
    may_lead = broker_up.copy()
    for b, t in zip(*np.nonzero(came_back), strict=True):
        ups = np.flatnonzero(broker_up[b, :t])
        down_steps = t - 1 - (int(ups[-1]) if ups.size else -1)
        catch_up = math.ceil((60.0 + 0.1 * down_steps * dt) / dt)
        in_sync[b, t : t + catch_up] = False
        may_lead[b, t : t + catch_up + int(_PREFERRED_ELECTION_DELAY_S // dt)] = False

    rep_ok = np.zeros((n_part, max_rf, T), dtype=bool)
    lead_ok = np.zeros((n_part, max_rf, T), dtype=bool)
    for r in range(max_rf):
        has = replicas[:, r] >= 0
        rep_ok[has, r] = in_sync[replicas[has, r]]
        lead_ok[has, r] = may_lead[replicas[has, r]]
    isr = rep_ok.sum(axis=1).astype(np.float64)
    offline = isr == 0
    first_lead = np.argmax(lead_ok, axis=1)
    any_lead = lead_ok.any(axis=1)
    first_isr = np.argmax(rep_ok, axis=1)
    choice = np.where(any_lead, first_lead, first_isr)
    leader = replicas[np.arange(n_part).reshape(-1, 1), choice].astype(np.float64)
    leader[offline] = -1.0
    elections = np.zeros((n_part, T))
    elections[:, 1:] = (leader[:, 1:] != leader[:, :-1]).astype(np.float64)
    election_pause = event_coverage(elections, _ELECTION_PAUSE_S, dt)

    # --- production ----------------------------------------------------------------------
    per_step = topic_rates[topic_of] * share * dt
    per_step[offline] = 0.0  # producers get NotLeaderOrFollower / timeouts: nothing appended
    per_step *= 1.0 - 0.5 * election_pause  # clients refresh metadata and retry
    offset0 = np.floor(rng.uniform(1e5, 5e7, size=n_part) * weights * sizes[topic_of])
    leo = floor_cumsum(per_step, offset0)
    produced = np.diff(leo, axis=1, prepend=offset0.reshape(-1, 1))
    retention_steps = np.array([max(1, int(topics[t].retention.total_seconds() // dt)) for t in topic_of])
    segment = max(1, int(3600 // dt))  # retention deletes whole (hourly) segments
    idx = np.arange(T)
    back = np.clip(idx.reshape(1, -1) - retention_steps.reshape(-1, 1), -1, T - 1)
    back = (back // segment) * segment
    history = np.maximum(
        offset0 - np.floor(topic_rates[topic_of].mean(axis=1) * weights * retention_steps * dt), 0.0
    )
    oldest = np.where(back >= 0, np.take_along_axis(leo, np.maximum(back, 0), axis=1), history.reshape(-1, 1))

    # --- consumer groups ------------------------------------------------------------------
    groups = spec.consumer_groups
    group_index = {g.name: i for i, g in enumerate(groups)}
    gp_group_list: list[int] = []
    gp_part_list: list[int] = []
    for gi, g in enumerate(groups):
        for name in g.topics:
            rows = np.flatnonzero(topic_of == topic_index[name])
            gp_group_list += [gi] * rows.size
            gp_part_list += rows.tolist()
    gp_group = np.array(gp_group_list, dtype=np.int64)
    gp_partition = np.array(gp_part_list, dtype=np.int64)
    n_groups = len(groups)
    members = np.array([g.members for g in groups], dtype=np.float64).reshape(-1, 1).repeat(T, axis=1)
    for gi, g in enumerate(groups):
        if g.autoscale is not None:
            members[gi] = _autoscaled(g, topic_rates, [topic_index[t] for t in g.topics], calendar)
    factor = np.ones((n_groups, T))
    storm_events = np.zeros((n_groups, T))
    for inc in (
        by_kind.get("slow_consumer", [])
        + by_kind.get("consumer_crash", [])
        + by_kind.get("rebalance_storm", [])
    ):
        if inc.target not in group_index:
            raise target_error(inc, list(group_index))
        gi = group_index[inc.target]
        i0, i1 = step_window(inc, calendar)
        if inc.kind == "slow_consumer":
            factor[gi, i0:i1] *= inc.magnitude
        elif inc.kind == "consumer_crash":
            members[gi, i0:i1] = np.floor(members[gi, i0:i1] * (1.0 - min(inc.magnitude, 1.0)))
        else:  # rebalance storm: members keep leaving and joining (e.g. poll-interval timeouts)
            every = max(1, round(3600.0 / max(inc.magnitude, 1e-6) / dt))
            times = np.arange(i0, i1, every)
            # the jitter has its own stream, so adding an incident never changes the past
            jitter = np.random.default_rng(zlib.crc32(f"{inc.target}@{inc.start}".encode()))
            times = times + jitter.integers(0, max(1, every // 3), size=times.size)
            times = times[times < i1]
            storm_events[gi, times] += 1.0
            flap = np.zeros(T, dtype=bool)
            for a, b in zip(times[::2], times[1::2], strict=False):
                flap[a:b] = True
            members[gi, flap] = np.maximum(members[gi, flap] - 1.0, 0.0)
    changes = np.zeros((n_groups, T))
    changes[:, 1:] = (members[:, 1:] != members[:, :-1]).astype(np.float64)
    pause_s = np.array([g.rebalance_pause.total_seconds() for g in groups]) if groups else np.zeros(0)
    rebalance = (
        event_coverage(np.maximum(changes, storm_events), pause_s, dt) if n_groups else np.zeros((0, T))
    )

    parts_of_group = np.bincount(gp_group, minlength=n_groups).astype(np.float64)
    cap_member = np.array([g.capacity_per_member for g in groups]) if groups else np.zeros(0)
    if gp_group.size:
        active = np.minimum(members, parts_of_group.reshape(-1, 1))
        member_cap = cap_member.reshape(-1, 1) * factor * (1.0 - rebalance)
        # each member owns parts/active partitions and shares its capacity among them: a hot
        # partition gets what its siblings leave over (work-conserving), but never more than
        # one member's worth, since a partition is consumed by a single member
        owned = parts_of_group.reshape(-1, 1) / np.maximum(active, 1e-9)
        arrivals_rate = produced[gp_partition] / dt
        mean_arrival = (onehot(gp_group, n_groups) @ arrivals_rate) / np.maximum(parts_of_group, 1).reshape(
            -1, 1
        )
        others = np.maximum(owned - 1.0, 0.0) * mean_arrival
        per_partition = np.where(
            active > 0, np.maximum(member_cap / np.maximum(owned, 1.0), member_cap - others), 0.0
        )
        capacity = per_partition[gp_group] * (1.0 - election_pause[gp_partition]) * dt
        capacity[offline[gp_partition]] = 0.0
        capacity = np.diff(floor_cumsum(capacity), axis=1, prepend=0.0)
        arrivals = produced[gp_partition]
        lag0 = np.floor(rng.uniform(0, 3, size=gp_group.size) * np.maximum(arrivals[:, 0], 1.0))
        backlog = lindley(arrivals, capacity, lag0)
        consumed_offset = leo[gp_partition] - backlog
        prev = np.concatenate(
            [(offset0[gp_partition] - lag0).reshape(-1, 1), consumed_offset[:, :-1]], axis=1
        )
        consumed = consumed_offset - prev
        interval = np.array([g.commit_interval.total_seconds() for g in groups])[gp_group].reshape(-1, 1)
        # within a step the last commit lies up to one interval back
        trail = np.floor(consumed / dt * rng.random(consumed.shape) * np.minimum(interval, dt))
        committed = np.maximum.accumulate(consumed_offset - trail, axis=1)
        # commit intervals longer than a step: the offset only moves at commit times
        commit_every = np.maximum(np.round(interval[:, 0] / dt), 1).astype(np.int64)
        if (commit_every > 1).any():
            phase = rng.integers(0, commit_every)
            steps_idx = np.arange(T).reshape(1, -1)
            last_commit = (
                (steps_idx - phase.reshape(-1, 1)) // commit_every.reshape(-1, 1)
            ) * commit_every.reshape(-1, 1) + phase.reshape(-1, 1)
            held = np.take_along_axis(committed, np.clip(last_commit, 0, T - 1), axis=1)
            before_first = last_commit < 0
            held[before_first] = np.broadcast_to((offset0[gp_partition] - lag0).reshape(-1, 1), held.shape)[
                before_first
            ]
            committed = np.where(commit_every.reshape(-1, 1) > 1, held, committed)
        lag = leo[gp_partition] - committed
        seconds = calendar.seconds
        reached = time_at_count(leo, committed, seconds, gp_partition)
        lag_seconds = np.where(lag > 0, np.maximum(seconds.reshape(1, -1) - reached, 0.0), 0.0)
    else:
        consumed = committed = lag = lag_seconds = np.zeros((0, T))

    # --- produce latency per broker -------------------------------------------------------
    leader_load = np.zeros((n_brokers, T))
    lead_int = leader.astype(np.int64)
    for b in range(n_brokers):
        leader_load[b] = np.where(lead_int == b, produced, 0.0).sum(axis=0)
    mean_load = leader_load.mean(axis=1, keepdims=True) + 1e-9
    latency = spec.produce_latency_ms * (
        1.0 + 0.4 * leader_load / mean_load + 0.05 * rng.standard_normal((n_brokers, T)) ** 2
    )
    follower_died = np.zeros((n_brokers, T), dtype=bool)
    went_down = np.zeros((n_brokers, T), dtype=bool)
    went_down[:, 1:] = ~broker_up[:, 1:] & broker_up[:, :-1]
    for b_down, t in zip(*np.nonzero(went_down), strict=True):
        followers_of = np.isin(lead_int[:, t - 1], np.arange(n_brokers)) & (replicas == b_down).any(axis=1)
        for b in np.unique(lead_int[followers_of, t - 1]):
            if b >= 0 and b != b_down:
                follower_died[b, t] = True
    latency = np.where(follower_died, np.maximum(latency, _REPLICA_LAG_MAX_S * 1000.0 * 0.95), latency)

    model = KafkaModel(
        spec=spec,
        calendar=calendar,
        topic_of=topic_of,
        partition_no=partition_no,
        replicas=replicas,
        produced=produced,
        leo=leo,
        oldest=oldest,
        leader=leader,
        isr=isr,
        offline=offline,
        broker_up=broker_up,
        produce_latency_p99_ms=latency,
        gp_group=gp_group,
        gp_partition=gp_partition,
        consumed=consumed,
        committed=committed,
        lag=lag,
        lag_seconds=lag_seconds,
        members=members,
    )
    model.truth = _ground_truth(model, by_kind, down_events, rf, topic_index, group_index)
    return model


def _autoscaled(group: KafkaGroupSpec, topic_rates: F64, rows: list[int], calendar: Calendar) -> F64:
    auto = group.autoscale
    if auto is None:
        return np.full(calendar.steps, float(group.members))
    demand = topic_rates[rows].sum(axis=0)
    wanted = np.ceil(demand / (group.capacity_per_member * auto.target_utilisation))
    wanted = np.clip(wanted, auto.min_members, auto.max_members)
    # the autoscaler acts on the demand it saw `delay` ago, and only in whole steps of 5 min
    delay = max(1, round(auto.delay.total_seconds() / calendar.step_seconds))
    hold = max(1, round(300 / calendar.step_seconds))
    delayed = np.concatenate([np.full(delay, float(group.members)), wanted[:-delay]])
    decided = delayed[(np.arange(delayed.size) // hold) * hold]
    return decided.astype(np.float64)


def _group_lag(model: KafkaModel, gi: int) -> F64:
    rows = model.gp_group == gi
    lag: F64 = model.lag[rows]
    return lag


def _group_entities(model: KafkaModel, gi: int) -> list[str]:
    g = model.spec.consumer_groups[gi]
    return [f"{g.name}/{t}" for t in g.topics]


def _ground_truth(
    model: KafkaModel,
    by_kind: dict[str, list[IncidentSpec]],
    down_events: list[tuple[IncidentSpec, list[int], int, int]],
    rf: I64,
    topic_index: dict[str, int],
    group_index: dict[str, int],
) -> list[TruthRow]:
    rows: list[TruthRow] = []
    topics = model.spec.topics
    groups = model.spec.consumer_groups
    cal = model.calendar
    lag_metrics = ["consumer_lag_messages", "consumer_lag_seconds"]

    for kind in ("slow_consumer", "consumer_crash", "rebalance_storm"):
        for inc in by_kind.get(kind, []):
            gi = group_index[inc.target]
            i0, i1 = step_window(inc, cal)
            lag = _group_lag(model, gi)
            metrics = ["messages_out_per_s"]
            if kind != "slow_consumer":
                metrics.insert(0, "consumers")
            end = i1
            if rose(lag, i0, i1 + 1):
                metrics += lag_metrics
                end = max(end, recovery_index(lag, i0, i1))
            rows.append(TruthRow(inc, "kafka", i0, end, _group_entities(model, gi), metrics))

    for inc in by_kind.get("load_spike", []):
        ti = topic_index[inc.target]
        i0, i1 = step_window(inc, cal)
        entities = [inc.target]
        metrics = ["messages_in_per_s", "bytes_in_per_s"]
        end = i1
        for gi, g in enumerate(groups):
            if inc.target in g.topics:
                lag = model.lag[(model.gp_group == gi) & (model.topic_of[model.gp_partition] == ti)]
                if rose(lag, i0, i1 + 1):
                    entities.append(f"{g.name}/{inc.target}")
                    metrics += lag_metrics
                    end = max(end, recovery_index(lag, i0, i1))
        rows.append(TruthRow(inc, "kafka", i0, end, entities, metrics))

    for inc in by_kind.get("hot_partition", []):
        i0, i1 = step_window(inc, cal)
        row = model.partition_entities.index(inc.target)
        topic = topics[model.topic_of[row]].name
        entities = [inc.target]
        metrics = ["messages_in_per_s"]
        end = i1
        for gi, g in enumerate(groups):
            if topic in g.topics:
                lag = model.lag[(model.gp_group == gi) & (model.gp_partition == row)]
                if rose(lag, i0, i1 + 1):
                    entities.append(f"{g.name}/{topic}")
                    metrics += lag_metrics
                    end = max(end, recovery_index(lag, i0, i1))
        rows.append(TruthRow(inc, "kafka", i0, end, entities, metrics))

    for inc, brokers, i0, i1 in down_events:
        hosted: NDArray[np.bool_] = np.asarray(np.isin(model.replicas, brokers).any(axis=1))
        urp = (model.isr < rf.reshape(-1, 1)).astype(np.float64)[hosted]
        end = max(i1, recovery_index(urp, i0, i1, floor=0.0))
        entities = [f"broker-{b}" for b in brokers]
        entities += sorted({topics[t].name for t in model.topic_of[hosted]})
        metrics = ["under_replicated_partitions"]
        if model.offline[:, i0:i1].any():
            metrics.append("offline_partitions")
        for gi in range(len(groups)):
            sel = (model.gp_group == gi) & hosted[model.gp_partition]
            if sel.any() and rose(model.lag[sel], i0, i1 + 1):
                entities += _group_entities(model, gi)
                metrics += lag_metrics
                end = max(end, recovery_index(model.lag[sel], i0, i1))
        rows.append(TruthRow(inc, "kafka", i0, end, entities, metrics))
    return rows
