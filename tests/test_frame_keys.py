"""Frame keys (app.core.cache): which frames an edit can change, named by what made them."""
from __future__ import annotations

from app.core.cache import base_key, frame_keys, key_tokens, segment_key


def keys_for(spec, n=120, local=True):
    return frame_keys(n, key_tokens(spec), "ctx", local)


def changed(a, b):
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


def test_an_edit_changes_its_segments_only():
    # (frame, content token, painted over propagation)
    before = keys_for([(0, "img", False), (50, "s1", True), (100, "img2", False)])
    after = keys_for([(0, "img", False), (50, "s2", True), (100, "img2", False)])
    assert changed(before, after) == list(range(1, 100))        # from the previous key to the next
    assert keys_for([(0, "img", False)]) != keys_for([(0, "img", False), (103, "s", True)])
    late = changed(keys_for([(0, "img", False)]), keys_for([(0, "img", False), (103, "s", True)]))
    assert late == list(range(1, 120))
    # with a key at 60 too, a correction at 103 leaves 0..60 alone
    assert changed(keys_for([(0, "a", False), (60, "b", False)]),
                   keys_for([(0, "a", False), (60, "b", False), (103, "s", True)])) == list(range(61, 120))


def test_a_correction_depends_on_the_keys_before_it():
    t1 = key_tokens([(0, "a", False), (50, "s", True)])
    t2 = key_tokens([(0, "b", False), (50, "s", True)])
    assert t1[50] != t2[50]                                      # painted over what 0 gives
    t3 = key_tokens([(0, "a", False), (50, "img", False)])
    t4 = key_tokens([(0, "b", False), (50, "img", False)])
    assert t3[50] == t4[50]                                      # a colour image does not
    # undoing the correction gives back exactly the keys the frames had before it
    assert keys_for([(0, "a", False)]) == keys_for([(0, "a", False)])
    assert base_key(103, key_tokens([(0, "a", False), (103, "s", True)]), "ctx") == \
        keys_for([(0, "a", False)])[103] == segment_key("ctx", 0, key_tokens([(0, "a", False)])[0], None, None)


def test_other_methods_and_no_keys():
    assert keys_for([], n=5) == [None] * 5
    g1 = keys_for([(0, "a", False), (60, "b", False)], local=False)
    g2 = keys_for([(0, "a", False), (60, "c", False)], local=False)
    assert changed(g1, g2) == [i for i in range(120) if i != 0]  # a non-local method: every frame
    assert frame_keys(10, key_tokens([(0, "a", False)]), "ctx1") != frame_keys(10, key_tokens([(0, "a", False)]), "ctx2")
