"""A Hypothesis state machine drives the real reconciler against the reference model in `sync/model.py`.

Several devices of several reps keep outboxes; the network duplicates, drops, reorders and loses the
replies of their batches (a lost reply leaves everything in the outbox: partially acknowledged batches).
Every push goes through the real service (`server.syncing.services.push`, the one path the HTTP route
calls) on the real database, and the same batch through `ModelServer`. After every step: each reply
says per seq what the model says, each device's stored last_seq is the model's, and a full pull of each
rep contains exactly the model's records, none lost and none twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, uuid4, uuid5

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from server import clock
from server.accounts.permissions import load_actor
from server.syncing import services
from server.syncing.tables import Device
from sync.model import ModelMutation, ModelServer
from sync.protocol import PROTOCOL_VERSION, SCHEMA_VERSION, decode_push
from tests import factories

REPS = 2
DEVICES_PER_REP = 2
REPORT_DAYS = 1  # one daily report per device, edited by many of its seqs (no two devices edit one report)


def test_the_real_reconciler_agrees_with_the_model(client):
    run = client.run

    class Reconciler(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            # Fresh reps each example, so a pull of a rep holds exactly this example's records.
            team = run(factories.team())
            self.model = ModelServer()
            self.reps = []
            self.devices: list[dict] = []
            for r in range(REPS):
                rep = run(factories.user("rep", team))
                customer = run(factories.customer(rep))
                actor = run(load_actor(str(rep)))
                self.reps.append({"id": rep, "actor": actor, "customer": customer})
                for d in range(DEVICES_PER_REP):
                    self.devices.append({"id": uuid4(), "rep": r, "outbox": [], "sent": [], "next_seq": 1,
                                         "name": f"r{r}d{d}"})
            self.kinds: dict[str, str] = {}  # model record -> "visit" or "report"
            self.owner: dict[str, int] = {}  # model record -> rep index

        # ---------------------------------------------------------------------------- the client side

        @rule(device=st.integers(0, REPS * DEVICES_PER_REP - 1),
              changes=st.lists(st.one_of(st.none(), st.integers(0, REPORT_DAYS - 1)), min_size=1, max_size=4))
        def make_changes(self, device, changes):
            """The rep logs visits (new records) and edits the device's daily reports (None: a visit)."""
            for report in changes:
                self.make_change(device, report)

        def make_change(self, device, report):
            dev = self.devices[device]
            seq = dev["next_seq"]
            dev["next_seq"] += 1
            rep = self.reps[dev["rep"]]
            if report is None:
                record = str(uuid4())
                self.kinds[record] = "visit"
                value = "create"
                wire = {"seq": seq, "kind": "visit.create", "record_id": record,
                        "client_time": datetime.now(UTC).isoformat(),
                        "payload": {"customer": str(rep["customer"]), "purpose": "demo", "outcome": f"{dev['name']}-{seq}"}}
            else:
                # The report of a day is one record per device (reports of one rep are one per day: each
                # device owns different days, so two devices never edit one report).
                day = clock.today() - timedelta(days=1 + report + REPORT_DAYS * (device % DEVICES_PER_REP))
                record = str(uuid5(NAMESPACE_URL, f"{dev['id']}/{day}"))
                self.kinds[record] = "report"
                value = f"{dev['name']} seq {seq}"
                wire = {"seq": seq, "kind": "report.save", "record_id": record,
                        "client_time": datetime.now(UTC).isoformat(),
                        "payload": {"kind": "daily", "period_start": day.isoformat(), "summary": value}}
            self.owner[record] = dev["rep"]
            dev["outbox"].append((ModelMutation(dev["name"], seq, record, value), wire))
            dev["sent"].append(dev["outbox"][-1])

        @precondition(lambda self: any(d["outbox"] for d in self.devices))
        @rule(data=st.data(), lose_reply=st.booleans())
        def send(self, data, lose_reply):
            """A batch from one device's outbox: any subset (dropped mutations), in any order, maybe with
            copies of what it sent before; a lost reply leaves the outbox as it was."""
            dev = data.draw(st.sampled_from([d for d in self.devices if d["outbox"]]))
            picked = data.draw(st.lists(st.sampled_from(dev["outbox"]), min_size=1, max_size=8, unique_by=lambda m: m[0].seq))
            picked = data.draw(st.permutations(picked))
            self.push(dev, picked, lose_reply)

        @precondition(lambda self: any(d["outbox"] for d in self.devices))
        @rule(device=st.integers(0, REPS * DEVICES_PER_REP - 1))
        def flush(self, device):
            """The outbox as outbox.js sends it: everything pending, oldest first."""
            dev = self.devices[device]
            if dev["outbox"]:
                self.push(dev, list(dev["outbox"]), False)

        @precondition(lambda self: any(d["outbox"] for d in self.devices))
        @rule(device=st.integers(0, REPS * DEVICES_PER_REP - 1), back=st.integers(1, 6))
        def resend_with_history(self, device, back):
            """A retry that also carries the last `back` mutations acknowledged already (the client lost
            track of which were acknowledged): old seqs mixed with new ones in one batch."""
            dev = self.devices[device]
            pending = {m.seq for m, _w in dev["outbox"]}
            if pending:
                acknowledged = [mw for mw in dev["sent"][-back - len(pending):] if mw[0].seq not in pending]
                self.push(dev, acknowledged + dev["outbox"], False)

        def push(self, dev, picked, lose_reply):
            actor = self.reps[dev["rep"]]["actor"]
            body = json.dumps({"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION, "device_id": str(dev["id"]),
                               "sent_at": datetime.now(UTC).isoformat(), "mutations": [w for _m, w in picked]})
            reply = run(services.push(actor, decode_push(body.encode())))
            expected = self.model.push(dev["name"], [m for m, _w in picked])
            got = {r["seq"]: r["status"] for r in reply["results"]}
            assert got == expected, f"replies differ from the model: {got} != {expected}"
            assert reply["last_seq"] == self.model.last_seq[dev["name"]]
            if not lose_reply:
                done = {seq for seq, status in got.items() if status in ("applied", "duplicate")}
                dev["outbox"] = [(m, w) for m, w in dev["outbox"] if m.seq not in done]

        # ------------------------------------------------------------------------------- invariants

        @invariant()
        def last_seqs_are_the_models(self):
            if not hasattr(self, "model"):
                return
            ids = [d["id"] for d in self.devices]
            stored = {r["id"]: r["last_seq"] for r in run(Device.select(Device.id, Device.last_seq).where(Device.id.is_in(ids)))}
            for d in self.devices:
                assert stored.get(d["id"], 0) == self.model.last_seq.get(d["name"], 0), d["name"]

        @invariant()
        def pulls_hold_exactly_the_models_records(self):
            if not hasattr(self, "model"):
                return
            for r, rep in enumerate(self.reps):
                visits, reports, cursor = [], {}, 0
                while True:
                    page = run(services.pull(rep["actor"], cursor, 1000))
                    for change in page["changes"]:
                        if change["type"] == "visit":
                            visits.append(change["id"])
                        elif change["type"] == "report":
                            reports[change["id"]] = change["data"]["summary"]
                    cursor = page["cursor"]
                    if not page["more"]:
                        break
                mine = {k: v for k, v in self.model.records.items() if self.owner[k] == r}
                want_visits = sorted(k for k in mine if self.kinds[k] == "visit")
                assert sorted(visits) == want_visits, "visits lost or doubled"
                assert reports == {k: v for k, v in mine.items() if self.kinds[k] == "report"}

    run_state_machine_as_test(Reconciler, settings=settings(
        max_examples=25, stateful_step_count=20, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))

