"""The first demo launch says it is preparing data while the demo history is written, then says it is ready and
lists the demo patients (issue 12: "the first demo launch shows that it is preparing data")."""

from __future__ import annotations



def test_the_first_demo_launch_says_it_prepares_data_and_then_shows_it(window, qtbot, store):
    from ketachart.app import start_demo_history

    window.show_patients()
    assert not store.patients()
    history = start_demo_history(window, store)
    try:
        assert "Preparing the demo chart" in window.patients.message.text()  # at once, before any row is written
        qtbot.waitUntil(lambda: "ready" in window.patients.message.text(), timeout=120_000)
    finally:
        history.finish()
    assert history.error is None
    assert store.patients()  # the history is in the chart
    assert window.patients.table.rowCount() == len(store.patients())  # and the list shows it
