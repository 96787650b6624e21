"""Property tests of the reconcile rules (Hypothesis): exactly once, in order, whatever the network does."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.model import ModelMutation, ModelServer
from sync.protocol import MAX_BATCH, ProtocolError, decode_push
from sync.rules import Outcome, plan_batch


def test_plan_processes_in_order_and_never_skips_a_gap():
    assert plan_batch(2, [5, 3, 1, 4]) == [(1, Outcome.DUPLICATE), (3, Outcome.PROCESS), (4, Outcome.PROCESS),
                                           (5, Outcome.PROCESS)]
    assert plan_batch(0, [2, 3]) == [(2, Outcome.RETRY), (3, Outcome.RETRY)]
    assert plan_batch(0, [1, 3]) == [(1, Outcome.PROCESS), (3, Outcome.RETRY)]
    assert plan_batch(7, []) == []


def device_histories():
    """Several devices, each with a sequence of mutations: creates and overwrites of a few records."""
    mutation = st.tuples(st.sampled_from(["r1", "r2", "r3"]), st.sampled_from(["create", "a", "b", "c"]))
    return st.dictionaries(st.sampled_from(["d1", "d2", "d3"]), st.lists(mutation, min_size=1, max_size=12),
                           min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(histories=device_histories(), data=st.data())
def test_any_delivery_order_gives_exactly_once_and_the_sequential_result(histories, data):
    # What the devices want: each device's mutations, numbered 1..n, on records of its own.
    outboxes = {
        d: [ModelMutation(d, i + 1, f"{d}/{rec}", value) for i, (rec, value) in enumerate(muts)]
        for d, muts in histories.items()
    }
    expected = ModelServer()
    for d, muts in outboxes.items():
        expected.push(d, muts)

    server = ModelServer()
    acked = {d: set() for d in outboxes}
    in_flight: list[tuple[str, list[ModelMutation]]] = []

    def unacked(d):
        return [m for m in outboxes[d] if m.seq not in acked[d]]

    # An adversarial network for a while: partial sends, reordering, duplicates, drops, lost replies.
    for _step in range(data.draw(st.integers(0, 60), label="adversarial steps")):
        action = data.draw(st.sampled_from(["send", "deliver", "duplicate", "drop"]), label="action")
        if action == "send" or not in_flight:
            d = data.draw(st.sampled_from(sorted(outboxes)), label="device")
            waiting = unacked(d)  # what the device has not seen acknowledged, split into batches that
            if waiting:          # may travel side by side (a long outbox sent in several requests)
                start = data.draw(st.integers(0, len(waiting) - 1), label="start")
                size = data.draw(st.integers(1, len(waiting) - start), label="size")
                in_flight.append((d, waiting[start:start + size]))
            continue
        index = data.draw(st.integers(0, len(in_flight) - 1), label="which")  # any order of arrival
        d, batch = in_flight[index]
        if action != "duplicate":
            in_flight.pop(index)  # "duplicate" leaves a copy in flight: it arrives twice
        if action == "drop":
            continue
        replies = server.push(d, batch)
        if not data.draw(st.booleans(), label="reply lost"):
            acked[d] |= {seq for seq, status in replies.items() if status in ("applied", "duplicate")}

    # Then the network heals: stragglers arrive in any order, and devices retry until all is acknowledged.
    order = data.draw(st.permutations(range(len(in_flight))), label="straggler order")
    for index in order:
        d, batch = in_flight[index]
        server.push(d, batch)
    for _round in range(3):
        for d in outboxes:
            if unacked(d):
                replies = server.push(d, unacked(d))
                acked[d] |= {seq for seq, status in replies.items() if status in ("applied", "duplicate")}
    assert all(not unacked(d) for d in outboxes), "the queue jammed"

    assert server.records == expected.records
    assert sorted(server.effects) == sorted(expected.effects)
    assert len(server.effects) == len(set(server.effects))  # each mutation took effect once
    for d in outboxes:  # and in each device's order
        assert [seq for dev, seq in server.effects if dev == d] == list(range(1, len(outboxes[d]) + 1))


def envelope(**over):
    body = {"protocol": 1, "schema": 1, "device_id": str(uuid4()), "mutations": []}
    body.update(over)
    return json.dumps(body).encode()


def test_decode_rejects_whole_pushes_it_cannot_read():
    for bad in [b"", b"nul", b"[]", envelope(protocol="1"), envelope(device_id="x"), envelope(mutations=None),
                envelope(mutations=[{"seq": 0}]), envelope(mutations=[{"seq": True}]),
                envelope(mutations=[{"seq": 1}, {"seq": 1}])]:
        with pytest.raises(ProtocolError):
            decode_push(bad)
    with pytest.raises(ProtocolError) as e:
        decode_push(envelope(mutations=[{"seq": i + 1} for i in range(MAX_BATCH + 1)]))
    assert e.value.code == "too_large"
    with pytest.raises(ProtocolError) as e:
        decode_push(envelope(protocol=99))
    assert e.value.code == "update_required"


def test_decode_marks_malformed_mutations_but_keeps_the_batch():
    push = decode_push(envelope(mutations=[
        {"seq": 1, "kind": "visit.create", "record_id": str(uuid4()), "payload": {}},
        {"seq": 2, "kind": "nope", "record_id": str(uuid4()), "payload": {}},
        {"seq": 3, "kind": "visit.create", "record_id": "zzz", "payload": {}},
        {"seq": 4, "kind": "visit.create", "record_id": str(uuid4()), "payload": [1]},
    ]))
    assert [m.malformed for m in push.mutations] == [None, "kind", "record_id", "payload"]


@given(st.binary(max_size=300))
def test_decode_never_crashes_on_garbage(body):
    try:
        decode_push(body)
    except ProtocolError:
        pass
