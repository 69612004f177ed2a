"""multi through kazoo transactions: atomic success, a failing transaction and its per-op results, check."""

import pytest
from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)


def test_transaction_success(zk, root):
    zk.create(root + "/existing", b"old")
    zk.create(root + "/doomed")
    transaction = zk.transaction()
    transaction.check(root + "/existing", 0)
    transaction.create(root + "/new", b"n")
    transaction.create(root + "/seq-", b"", sequence=True)
    transaction.create(root + "/eph", b"", ephemeral=True)
    transaction.set_data(root + "/existing", b"new", version=0)
    transaction.delete(root + "/doomed")
    results = transaction.commit()
    assert results[0] is True
    assert results[1] == root + "/new"
    assert results[2] == root + "/seq-0000000003"  # the parent's cversion counts /existing, /doomed, /new
    assert results[3] == root + "/eph"
    assert results[4].version == 1
    assert results[5] is True
    data, stat = zk.get(root + "/existing")
    assert data == b"new"
    # Everything happened at one zxid.
    zxid = stat.mzxid
    assert zk.exists(root + "/new").czxid == zxid
    assert zk.exists(root + "/eph").czxid == zxid
    assert zk.exists(root + "/eph").ephemeralOwner == zk.client_id[0]
    assert zk.exists(root + "/doomed") is None
    assert zk.exists(root).pzxid == zxid


@pytest.mark.parametrize("failing, error", [
    ("check", BadVersionError),
    ("create-exists", NodeExistsError),
    ("create-no-parent", NoNodeError),
    ("delete-not-empty", NotEmptyError),
    ("set-bad-version", BadVersionError),
])
def test_failing_transaction_is_atomic(zk, root, failing, error):
    zk.create(root + "/a", b"a")
    zk.create(root + "/full")
    zk.create(root + "/full/kid")
    before = {path: zk.get(path) for path in (root, root + "/a", root + "/full")}
    transaction = zk.transaction()
    transaction.create(root + "/fresh", b"")
    transaction.set_data(root + "/a", b"changed")
    if failing == "check":
        transaction.check(root + "/a", 7)
    elif failing == "create-exists":
        transaction.create(root + "/full", b"")
    elif failing == "create-no-parent":
        transaction.create(root + "/none/x", b"")
    elif failing == "delete-not-empty":
        transaction.delete(root + "/full")
    elif failing == "set-bad-version":
        transaction.set_data(root + "/a", b"x", version=0)  # version is 1 after the op above, within the multi
    transaction.delete(root + "/a")
    results = transaction.commit()
    assert [type(result) for result in results] == [RolledBackError, RolledBackError, error, RuntimeInconsistency]
    assert zk.exists(root + "/fresh") is None
    for path, (data, stat) in before.items():
        assert zk.get(path) == (data, stat)


def test_transaction_ops_see_earlier_ops(zk, root):
    transaction = zk.transaction()
    transaction.create(root + "/p", b"")
    transaction.create(root + "/p/c", b"")
    transaction.set_data(root + "/p/c", b"v1", version=0)
    transaction.check(root + "/p/c", 1)
    transaction.delete(root + "/p/c", version=1)
    transaction.delete(root + "/p")
    results = transaction.commit()
    assert results[:2] == [root + "/p", root + "/p/c"]
    assert results[2].version == 1 and results[2].dataLength == 2
    assert results[3:] == [True, True, True]
    assert zk.get_children(root) == []


def test_transaction_check_missing_node(zk, root):
    transaction = zk.transaction()
    transaction.check(root + "/missing", 0)
    transaction.create(root + "/x")
    assert [type(r) for r in transaction.commit()] == [NoNodeError, RuntimeInconsistency]
    assert zk.exists(root + "/x") is None


def test_transaction_fires_watches_once_after_commit(zk, kazoo_factory, root):
    from conftest import EventLog

    watcher = kazoo_factory()
    zk.create(root + "/w", b"")
    data_log, child_log = EventLog(), EventLog()
    watcher.get(root + "/w", watch=data_log)
    watcher.get_children(root, watch=child_log)
    transaction = zk.transaction()
    transaction.set_data(root + "/w", b"1")
    transaction.set_data(root + "/w", b"2")
    transaction.create(root + "/x")
    transaction.create(root + "/y")
    transaction.commit()
    assert [e.type for e in data_log.wait(1)] == ["CHANGED"]
    assert [e.type for e in child_log.wait(1)] == ["CHILD"]
    assert watcher.get(root + "/w")[0] == b"2"
