import pytest

from app.core.crypto import DecryptionError, Keyring, generate_key


@pytest.fixture
def ring():
    return Keyring.from_config(generate_key(), "k2", None)


def test_seal_and_open_round_trip(ring):
    sealed = ring.seal(b"13812345678", "user.phone")
    assert b"13812345678" not in sealed
    assert ring.open(sealed, "user.phone") == b"13812345678"
    assert ring.seal(b"13812345678", "user.phone") != sealed  # a fresh nonce every time


def test_a_ciphertext_moved_to_another_purpose_does_not_open(ring):
    sealed = ring.seal(b"secret", "wechat.session_key")
    with pytest.raises(DecryptionError):
        ring.open(sealed, "user.phone")


@pytest.mark.parametrize("damage", [lambda b: b[:-1] + bytes([b[-1] ^ 1]), lambda b: b[:10], lambda b: b"\x09" + b[1:]])
def test_tampered_or_truncated_ciphertexts_are_refused(ring, damage):
    with pytest.raises(DecryptionError):
        ring.open(damage(ring.seal(b"secret", "p")), "p")


def test_rotation_keeps_old_data_readable_and_seals_with_the_new_key():
    old_key, new_key = generate_key(), generate_key()
    before = Keyring.from_config(old_key, "k1", None)
    sealed_before = before.seal(b"old data", "p")
    after = Keyring.from_config(new_key, "k2", f"k1:{old_key}")
    assert after.open(sealed_before, "p") == b"old data"
    assert after.key_id_of(after.seal(b"new", "p")) == "k2"
    forgotten = Keyring.from_config(new_key, "k2", None)
    with pytest.raises(DecryptionError, match="k1"):
        forgotten.open(sealed_before, "p")


@pytest.mark.parametrize("bad", ["short", "!!!not-base64!!!", ""])
def test_bad_keys_are_refused(bad):
    with pytest.raises(ValueError):
        Keyring.from_config(bad, "k1", None)
