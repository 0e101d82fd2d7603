import pytest

from ketachart.store.repository import ChartStore


@pytest.fixture
def store(tmp_path, clock):
    s = ChartStore.open(tmp_path / "chart.db", clock)
    s.author = "nurse.a"
    yield s
    s.close()


@pytest.fixture
def patient(store):
    return store.create_patient("MRN-100", "Doe", "Jane", "1980-02-03", "female", 70)


@pytest.fixture
def session(store, patient):
    return store.create_session(patient["patient_id"], "IV")
