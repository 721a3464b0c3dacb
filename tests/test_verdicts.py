from alignrl.verdicts import FAILS, HOLDS, INCONCLUSIVE, verdict


def test_verdict_comes_from_the_interval():
    assert verdict(0.01, 0.2, 0.02) == HOLDS
    assert verdict(-0.05, 0.01, 0.02) == FAILS          # no gain of 0.02 is compatible
    assert verdict(-0.3, -0.1, 0.02) == FAILS           # harm
    assert verdict(-0.01, 0.1, 0.02) == INCONCLUSIVE    # straddles: could be either
    assert verdict(float("nan"), 0.1, 0.02) == INCONCLUSIVE
