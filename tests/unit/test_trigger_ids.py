"""The trigger index's id directory behaves as a dict from id to seq, collisions included."""

from hypothesis import given, settings
from hypothesis import strategies as st

from autopilot.domain.triggers.ids import IdDirectory

# A few short ids, so that a scenario adds, releases and re-adds the same ones, and a small
# table, so that probe clusters wrap around its end and deletions shift entries back.
ids = st.sampled_from([f"TRIG-{n}" for n in range(40)] + ["Ünïcode-✓", "", "a" * 300])
steps = st.lists(st.tuples(st.sampled_from(["add", "release"]), ids), max_size=300)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_the_directory_finds_what_a_dict_would(scenario: list[tuple[str, str]]) -> None:
    directory = IdDirectory()
    model: dict[str, int] = {}
    released: dict[int, str] = {}
    for action, trigger_id in scenario:
        if action == "add" and trigger_id not in model:
            seq = directory.append(trigger_id)
            assert seq not in model.values() and seq not in released
            model[trigger_id] = seq
        elif action == "release" and trigger_id in model:
            seq = model.pop(trigger_id)
            assert directory.release(seq) == trigger_id
            released[seq] = trigger_id
        assert len(directory) == len(model)
        for known, seq in model.items():
            assert directory.find(known) == seq
            assert directory.id_of(seq) == known
        for seq, gone in released.items():
            assert directory.id_of(seq) == gone  # a released seq still names its trigger
            if gone not in model:
                assert directory.find(gone) == -1


def test_the_directory_grows_past_its_first_table() -> None:
    directory = IdDirectory()
    seqs = [directory.append(f"TRIG-{n:07d}") for n in range(10_000)]
    assert seqs == list(range(10_000))
    for n in range(0, 10_000, 2):
        directory.release(n)
    assert len(directory) == 5_000
    assert all(directory.find(f"TRIG-{n:07d}") == (n if n % 2 else -1) for n in range(10_000))
