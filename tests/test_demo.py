"""The demo's claims hold: reading alone trains the memory, and depth buys capacity."""

from titans_seq.demo import main, recall_curve


def test_reading_alone_trains_the_memory_and_depth_adds_capacity():
    linear = recall_curve(pairs=64, dim=32, passes=16, depth=1)
    mlp = recall_curve(pairs=64, dim=32, passes=16, depth=2)
    assert linear[0].relative_error > 0.9 and mlp[0].relative_error > 0.9  # nothing stored yet
    assert mlp[-1].relative_error < 0.2 and mlp[-1].accuracy == 1.0
    # 64 pairs in 32 dimensions exceed what a matrix can hold exactly.
    assert linear[-1].relative_error > 0.4 > mlp[-1].relative_error


def test_demo_prints_its_measurements(capsys):
    main(["--passes", "2"])
    out = capsys.readouterr().out
    assert "linear memory" in out and "MLP memory" in out and "recall acc." in out
