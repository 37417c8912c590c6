"""Password generation and Dovecot `{SCHEME}hash` hashing."""

import math

from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

from provisioning import passwords

from ..base import PASSWORD_IN_SMS

# Fixed passwords in the generated shape, so that no test depends on chance.
RIGHT = "k7dmx-3qp9w-teh4n-c2rfa"
WRONG = "k7dmx-3qp9w-teh4n-c2rfb"
LOOK_ALIKES = "0o1li"


class GenerateTests(SimpleTestCase):
    def test_it_makes_four_groups_of_five_joined_by_hyphens(self):
        password = passwords.generate()
        groups = password.split("-")
        self.assertEqual(len(groups), 4)
        self.assertEqual([len(group) for group in groups], [5, 5, 5, 5])
        self.assertTrue(passwords.looks_generated(password))

    def test_it_matches_what_the_tests_look_for_in_an_sms(self):
        self.assertRegex(passwords.generate(), PASSWORD_IN_SMS)

    def test_it_has_no_look_alike_characters_in_its_alphabet(self):
        for char in LOOK_ALIKES:
            with self.subTest(char=char):
                self.assertNotIn(char, passwords.ALPHABET)

    def test_it_uses_only_the_alphabet_and_all_of_it(self):
        used = set("".join(passwords.generate() for _ in range(1000)).replace("-", ""))
        self.assertTrue(used <= set(passwords.ALPHABET), used - set(passwords.ALPHABET))
        # 20,000 draws over 31 symbols: a symbol never drawn would mean a biased generator.
        self.assertEqual(used, set(passwords.ALPHABET))

    def test_it_has_at_least_80_bits_of_entropy(self):
        self.assertGreaterEqual(passwords.ENTROPY_BITS, 80)
        # Counted on a real password, not only on the module's own arithmetic.
        symbols = len(passwords.generate().replace("-", ""))
        self.assertGreaterEqual(symbols * math.log2(len(passwords.ALPHABET)), 80)

    def test_it_makes_a_different_password_each_time(self):
        made = [passwords.generate() for _ in range(2000)]
        self.assertEqual(len(set(made)), len(made))

    def test_it_recognises_only_the_generated_shape(self):
        for text in ("k7dmx3qp9wteh4nc2rfa", "k7dm-x3qp-9wte-h4nc", "K7DMX-3QP9W-TEH4N-C2RFA",
                     "k7dmx-3qp9w-teh4n-c2rf0", "k7dmx-3qp9w-teh4n-c2rfa-abcde"):  # fmt: skip
            with self.subTest(text=text):
                self.assertFalse(passwords.looks_generated(text))


class HashPasswordTests(SimpleTestCase):
    SCHEMES = {
        "SHA512-CRYPT": r"^\{SHA512-CRYPT\}\$6\$",
        "SHA256-CRYPT": r"^\{SHA256-CRYPT\}\$5\$",
        "BLF-CRYPT": r"^\{BLF-CRYPT\}\$2y\$",
        "ARGON2ID": r"^\{ARGON2ID\}\$argon2id\$",
    }

    def test_it_uses_sha512_crypt_by_default(self):
        self.assertRegex(passwords.hash_password(RIGHT), self.SCHEMES["SHA512-CRYPT"])

    def test_it_prefixes_each_scheme_the_way_dovecot_reads_it(self):
        for scheme, pattern in self.SCHEMES.items():
            with self.subTest(scheme=scheme), override_settings(MAILSERVER_PASSWORD_SCHEME=scheme):
                self.assertRegex(passwords.hash_password(RIGHT), pattern)

    def test_it_verifies_the_right_password_and_refuses_a_wrong_one(self):
        for scheme in self.SCHEMES:
            with self.subTest(scheme=scheme):
                stored = passwords.hash_password(RIGHT, scheme=scheme)
                self.assertTrue(passwords.verify(RIGHT, stored))
                self.assertFalse(passwords.verify(WRONG, stored))

    def test_it_fits_the_255_character_password_column(self):
        for scheme in self.SCHEMES:
            with self.subTest(scheme=scheme):
                self.assertLessEqual(len(passwords.hash_password(RIGHT, scheme=scheme)), 255)

    def test_it_salts_each_hash(self):
        self.assertNotEqual(passwords.hash_password(RIGHT), passwords.hash_password(RIGHT))

    def test_it_never_contains_the_password(self):
        for scheme in self.SCHEMES:
            with self.subTest(scheme=scheme):
                self.assertNotIn(RIGHT, passwords.hash_password(RIGHT, scheme=scheme))

    @override_settings(MAILSERVER_SHA_CRYPT_ROUNDS=5000)
    def test_it_leaves_dovecots_default_rounds_implicit(self):
        stored = passwords.hash_password(RIGHT)
        self.assertNotIn("rounds=", stored)
        self.assertTrue(passwords.verify(RIGHT, stored))

    @override_settings(MAILSERVER_SHA_CRYPT_ROUNDS=10000)
    def test_it_uses_the_configured_rounds(self):
        for scheme, prefix in (("SHA512-CRYPT", "$6$"), ("SHA256-CRYPT", "$5$")):
            with self.subTest(scheme=scheme):
                stored = passwords.hash_password(RIGHT, scheme=scheme)
                self.assertTrue(stored.startswith(f"{{{scheme}}}{prefix}rounds=10000$"), stored)
                self.assertTrue(passwords.verify(RIGHT, stored))

    @override_settings(MAILSERVER_BCRYPT_COST=5)
    def test_it_uses_the_configured_bcrypt_cost(self):
        stored = passwords.hash_password(RIGHT, scheme="BLF-CRYPT")
        self.assertTrue(stored.startswith("{BLF-CRYPT}$2y$05$"), stored)

    def test_it_refuses_to_verify_unknown_or_plain_schemes(self):
        for stored in (f"{{PLAIN}}{RIGHT}", RIGHT, "", "{MD5-CRYPT}$1$abc$def"):
            with self.subTest(stored=stored):
                self.assertFalse(passwords.verify(RIGHT, stored))


class SchemeSettingTests(SimpleTestCase):
    def test_it_accepts_every_supported_scheme(self):
        for scheme in HashPasswordTests.SCHEMES:
            with self.subTest(scheme=scheme), override_settings(MAILSERVER_PASSWORD_SCHEME=scheme):
                passwords.check_scheme_setting()

    @override_settings(MAILSERVER_PASSWORD_SCHEME="MD5-CRYPT")
    def test_it_refuses_an_unknown_scheme_at_start_up(self):
        with self.assertRaisesMessage(ImproperlyConfigured, "'MD5-CRYPT' is not supported"):
            passwords.check_scheme_setting()

    @override_settings(MAILSERVER_PASSWORD_SCHEME="MD5-CRYPT")
    def test_it_refuses_to_hash_with_an_unknown_configured_scheme(self):
        with self.assertRaisesMessage(ImproperlyConfigured, "MD5-CRYPT"):
            passwords.hash_password(RIGHT)

    def test_it_refuses_to_hash_with_an_unknown_explicit_scheme(self):
        with self.assertRaises(ImproperlyConfigured) as raised:
            passwords.hash_password(RIGHT, scheme="PLAIN")
        self.assertNotIn(RIGHT, repr(raised.exception))
