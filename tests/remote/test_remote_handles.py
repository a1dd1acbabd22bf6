"""Handle lifetimes: the service forgets an object's handle once no client's proxy holds it, so closed
measurements are freed in a long-running service; a handle another client still holds stays valid."""

from __future__ import annotations

import pytest

from specpy.remote.client import connect
from specpy.remote.errors import ProtocolError


def objects(app) -> int:
    """The service's handle-table size (this call first gives back what this client dropped)."""
    return app.status()["objects"]


@pytest.fixture
def client(service):
    remote = connect(f"127.0.0.1:{service.port}")
    yield remote
    remote.close_connection()


def test_a_dropped_proxy_frees_its_handle_and_the_object_comes_back_under_a_new_one(client):
    before = objects(client)
    m = client.create_measurement()
    name = m.name()
    configuration = m.configuration(0)
    assert objects(client) == before + 2
    assert client.measurement(name) is m  # sent twice, one proxy: both counts are given back together
    first_id = m._handle[1]
    del m, configuration
    assert objects(client) == before
    again = client.measurement(name)
    assert again._handle[1] != first_id and again.name() == name
    client.close(again)
    assert again.status() == "closed"  # a held handle of a closed measurement still answers
    del again
    assert objects(client) == before


def test_a_handle_another_client_holds_stays_valid(service, client):
    with connect(f"127.0.0.1:{service.port}") as other:
        m = client.create_measurement()
        name = m.name()
        theirs = other.measurement(name)
        del m
        client.version()  # gives back this client's count
        assert theirs.name() == name and theirs.number_of_configurations() == 1
        other.close(theirs)


@pytest.mark.parametrize("counts", [
    "not a list", [[1, "session"]], [["1", "session", 1]], [[1, "session", 0]], [[1, 2, 1]],
    [[1, "session", 1]] * 4097,
])
def test_a_malformed_release_is_refused_and_the_service_goes_on(client, counts):
    before = objects(client)
    with pytest.raises(ProtocolError, match="release takes a list"):
        client._connection.call("release", None, (counts,), {}, idempotent=False)
    assert objects(client) == before


def test_releasing_unknown_or_stale_handles_changes_nothing(client):
    m = client.create_measurement()
    before = objects(client)
    forgotten = client._connection.call("release", None, ([[10**9, m._handle[2], 1], [m._handle[1], "old", 5]],),
                                        {}, idempotent=False)
    assert forgotten == 0 and objects(client) == before and m.name()
    client.close(m)
