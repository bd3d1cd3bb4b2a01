"""On-demand carriers leave none behind: a replica that dies between the managed side making a
carrier and the record leaves an intent with the carrier's ID, which any replica's sweep takes
once it is older than ``carrier_timeout_seconds``, deleting the carrier on the managed side; a
sweep never deletes a carrier an attempt still going records. Two homeport servers play the two
sides; a replica's death is an exception no handler catches, raised where it dies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
from sqlalchemy import select, update

import homeport.gateway.carriers
from homeport.gateway import carrier_intents
from homeport.gateway.carriers import CarrierRefused, Carriers
from homeport.gateway.config import GatewayConfig
from homeport.gateway.metrics import GatewayMetrics
from homeport.gateway.translate import CHAIN_MEMBER, Translations
from homeport.rollout.transcripts import ChainTranscript
from homeport.store.db import Database
from homeport.store.migrate import upgrade
from homeport.store.models.gateway import GatewayCarrierIntent, GatewayIdMap
from tests.support.servers import HomeportServer


class Died(BaseException):
    """The replica's process ends here: nothing after it runs, no handler sees it."""


@dataclass
class Setup:
    db: Database
    managed: HomeportServer
    member: str  # an evacuated chain's older response, without a carrier yet
    homeport_url: str
    homeport_key: str

    def replica(self, name: str, managed_key: bool = True) -> Carriers:
        """A replica's carriers; without ``managed_key``, the client's key passes through."""
        key = self.managed.admin_key if managed_key else None
        config = GatewayConfig(
            database_url="sqlite://",  # unused: the replica is given ``db``
            replica=name,
            managed={"base_url": self.managed.base_url, "api_key": key},
            homeport={"base_url": self.homeport_url, "api_key": self.homeport_key},
        )
        return Carriers(self.db, config, Translations(self.db, 10), GatewayMetrics(name))

    def intents(self) -> list[tuple[str, str | None]]:
        with self.db.sessions() as session:
            rows = session.scalars(select(GatewayCarrierIntent)).all()
            return [(row.replica, row.carrier) for row in rows]

    def age_intents(self) -> None:
        """The intents were written longer than ``carrier_timeout_seconds`` ago."""
        with self.db.session() as session:
            session.execute(
                update(GatewayCarrierIntent).values(
                    created_at=GatewayCarrierIntent.created_at - 3600
                )
            )

    def on_managed(self, carrier: str) -> bool:
        with self.managed.client(admin=True) as client:
            try:
                client.responses.retrieve(carrier)
            except openai.NotFoundError:
                return False
        return True

    def recorded(self) -> tuple[str, str]:
        with self.db.sessions() as session:
            row = session.scalars(
                select(GatewayIdMap).where(GatewayIdMap.source_id == self.member)
            ).one()
            return row.kind, row.target_id


@pytest.fixture
def setup(
    database_url: str, two_homeports: tuple[HomeportServer, HomeportServer]
) -> Iterator[Setup]:
    managed, homeport = two_homeports
    db = Database(database_url)
    upgrade(db.engine)
    with homeport.client(admin=True) as client:
        first = client.responses.create(model="scripted", input="one")
        client.responses.create(model="scripted", input="two", previous_response_id=first.id)
    with db.session() as session:
        session.add(
            GatewayIdMap(
                source_id=first.id, target_id=first.id, kind=CHAIN_MEMBER, conversation=first.id
            )
        )
    yield Setup(db, managed, first.id, homeport.base_url, homeport.admin_key)
    db.dispose()


def outcomes(carriers: Carriers) -> dict[str, float]:
    samples = carriers._metrics.carriers.collect()[0].samples
    return {s.labels["outcome"]: s.value for s in samples if s.name.endswith("_total")}


def test_a_carrier_left_by_a_replica_that_died_before_recording_it_is_swept(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies(*args: object, **kwargs: object) -> str:
        raise Died

    dying = setup.replica("dying")
    with monkeypatch.context() as patch:
        patch.setattr(homeport.gateway.carriers, "record_carrier", dies)
        with pytest.raises(Died):
            dying._carrier(setup.member, ())
    [(replica, carrier)] = setup.intents()
    assert replica == "dying" and carrier is not None
    assert setup.on_managed(carrier)  # made, and nothing points to it
    assert setup.recorded() == (CHAIN_MEMBER, setup.member)

    survivor = setup.replica("survivor")
    survivor.sweep()
    assert setup.on_managed(carrier)  # not older than carrier_timeout_seconds: maybe going on
    setup.age_intents()
    survivor.sweep()
    assert not setup.on_managed(carrier)
    assert setup.intents() == []
    assert outcomes(survivor) == {"swept": 1}

    made = survivor._carrier(setup.member, ())  # the member is carried anew, and recorded
    assert setup.recorded() == ("response", made)
    assert setup.on_managed(made) and setup.intents() == []
    assert outcomes(survivor) == {"swept": 1, "made": 1}


def test_without_a_managed_key_the_next_request_for_the_member_sweeps(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies(*args: object, **kwargs: object) -> str:
        raise Died

    credentials = (("authorization", f"Bearer {setup.managed.admin_key}"),)
    passing = setup.replica("passing", managed_key=False)
    with monkeypatch.context() as patch:
        patch.setattr(homeport.gateway.carriers, "record_carrier", dies)
        with pytest.raises(Died):
            passing._carrier(setup.member, credentials)
    [(_, left)] = setup.intents()
    assert left is not None
    setup.age_intents()
    passing.sweep()  # no key to delete it with
    assert setup.on_managed(left)
    made = passing._carrier(setup.member, credentials)
    assert not setup.on_managed(left) and setup.on_managed(made)
    assert setup.intents() == []
    assert outcomes(passing) == {"swept": 1, "made": 1}


def test_an_attempt_that_died_before_the_managed_side_named_a_carrier_is_reported(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def dies(*args: object, **kwargs: object) -> str:
        raise Died

    with monkeypatch.context() as patch:
        patch.setattr(ChainTranscript, "carry", dies)
        with pytest.raises(Died):
            setup.replica("dying")._carrier(setup.member, ())
    assert setup.intents() == [("dying", None)]
    setup.age_intents()
    survivor = setup.replica("survivor")
    survivor.sweep()
    assert setup.intents() == []
    assert outcomes(survivor) == {"lost": 1}
    assert f"replica dying stopped making a carrier for response {setup.member}" in caplog.text


def test_a_sweep_never_deletes_a_carrier_an_attempt_still_going_records(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweeper = setup.replica("sweeper")

    def slow(*args: str) -> str:
        """The attempt outlived carrier_timeout_seconds: a sweep ran before it could record."""
        setup.age_intents()
        sweeper.sweep()
        return carrier_intents.record_carrier(*args)

    slow_replica = setup.replica("slow")
    monkeypatch.setattr(homeport.gateway.carriers, "record_carrier", slow)
    with pytest.raises(CarrierRefused) as refused:
        slow_replica._carrier(setup.member, ())
    assert refused.value.status == 503  # the client retries
    assert setup.recorded() == (CHAIN_MEMBER, setup.member)  # nothing points to a deleted one
    assert setup.intents() == []
    assert outcomes(sweeper) == {"swept": 1}
    assert outcomes(slow_replica) == {"failed": 1}


def test_a_race_loser_deletes_its_own_carrier_and_its_intent(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours: list[str] = []

    def another_replica_first(db: Database, member: str, carrier: str, intent: str) -> str:
        carrier_intents.record_carrier(db, member, "resp_winner")
        ours.append(carrier)
        return carrier_intents.record_carrier(db, member, carrier, intent)

    loser = setup.replica("loser")
    monkeypatch.setattr(homeport.gateway.carriers, "record_carrier", another_replica_first)
    assert loser._carrier(setup.member, ()) == "resp_winner"
    assert not setup.on_managed(ours[0])
    assert setup.intents() == []
    assert outcomes(loser) == {"raced": 1}
