"""What an administrator types: local parts, mobile phones, personal emails; the masked phone."""

from unittest import mock

from django.core.exceptions import ValidationError
from django.test import SimpleTestCase
from phonenumber_field.phonenumber import PhoneNumber

from accounts.models import Member
from accounts.validators import (
    normalize_personal_email,
    parse_mobile_phone,
    validate_local_part,
    validate_mobile_phone,
    validate_name_characters,
    without_invisible_characters,
)


class LocalPartTests(SimpleTestCase):
    def assertRefused(self, value: str, code: str, words: str) -> None:
        with self.assertRaises(ValidationError) as raised:
            validate_local_part(value)
        self.assertEqual(raised.exception.code, code)
        self.assertIn(words, raised.exception.messages[0])

    def test_it_accepts_lowercase_letters_digits_and_inner_separators(self):
        for value in ("pierre", "pierre.dupont", "marie-claire", "jean_luc", "p2", "a", "x" * 64):
            with self.subTest(value=value):
                validate_local_part(value)

    def test_it_refuses_spaces(self):
        self.assertRefused("pierre dupont", "invalid", "sans espace")

    def test_it_refuses_accents(self):
        for value in ("hélène", "françois", "zoë"):
            with self.subTest(value=value):
                self.assertRefused(value, "invalid", "sans accent")

    def test_it_refuses_more_than_64_characters(self):
        self.assertRefused("x" * 65, "too_long", "65 caractères ; 64 au maximum")

    def test_it_refuses_uppercase_and_shows_the_lowercase_spelling(self):
        self.assertRefused("Pierre", "uppercase", "« Pierre » s'écrirait « pierre »")

    def test_it_refuses_characters_a_mail_server_would_not_take(self):
        for value in ("pierre@x", "pierre+tag", "pi/erre", "pierre!", "o'brien", "<pierre>"):
            with self.subTest(value=value):
                self.assertRefused(value, "invalid", f"« {value} » n'est pas accepté")

    def test_it_refuses_separators_at_the_ends_or_doubled(self):
        for value in (".pierre", "pierre.", "-pierre", "pierre_", "pierre..dupont", "p.-d"):
            with self.subTest(value=value):
                self.assertRefused(value, "invalid", "entre deux caractères")

    def test_it_asks_for_a_local_part_when_empty(self):
        self.assertRefused("", "required", "Indiquez la partie avant le @")


class MobilePhoneTests(SimpleTestCase):
    def assertRefused(self, value, code: str, words: str) -> None:
        with self.assertRaises(ValidationError) as raised:
            parse_mobile_phone(value)
        self.assertEqual(raised.exception.code, code)
        self.assertIn(words, raised.exception.messages[0])

    def test_it_parses_the_belgian_national_format(self):
        self.assertEqual(
            parse_mobile_phone("0470 12 34 56"), PhoneNumber.from_string("+32470123456")
        )
        self.assertEqual(parse_mobile_phone("0470 12 34 56").as_e164, "+32470123456")

    def test_it_accepts_international_and_foreign_mobiles(self):
        for text, e164 in (
            ("+32 470 12 34 56", "+32470123456"),
            ("+32470123456", "+32470123456"),
            ("0032 470 12 34 56", "+32470123456"),
            ("+33 6 12 34 56 78", "+33612345678"),
        ):
            with self.subTest(text=text):
                self.assertEqual(parse_mobile_phone(text).as_e164, e164)

    def test_it_refuses_a_landline(self):
        for text in ("+3222345678", "02 234 56 78", "+32 65 12 34 56"):  # Brussels, Mons
            with self.subTest(text=text):
                self.assertRefused(text, "not_mobile", "n'est pas un numéro de GSM")

    def test_it_refuses_text_that_is_not_a_number(self):
        for text in ("pas un numéro", "", "   ", None):
            with self.subTest(text=text):
                self.assertRefused(text, "unparseable", "Numéro de GSM illisible")

    def test_it_refuses_a_number_that_does_not_exist(self):
        for text in ("+32 470 12", "+32 999 99 99 99", "0470 12 34 56 78 90"):
            with self.subTest(text=text):
                self.assertRefused(text, "invalid", "n'existe pas")

    def test_it_refuses_letters_a_keypad_would_turn_into_digits(self):
        for text in ("0470 CALLME", "+32 470 OCTOPUS", "0470 12 34 5six"):
            with self.subTest(text=text):
                self.assertRefused(text, "letters", "contient des lettres")

    def test_it_checks_a_phone_number_object_too(self):
        with self.assertRaises(ValidationError):
            validate_mobile_phone(PhoneNumber.from_string("+3222345678"))
        validate_mobile_phone(PhoneNumber.from_string("+32470123456"))


class PersonalEmailTests(SimpleTestCase):
    def test_it_normalizes_the_domain_of_a_valid_address(self):
        self.assertEqual(normalize_personal_email("Pierre@Example.ORG"), "Pierre@example.org")

    def test_it_refuses_malformed_addresses_in_french(self):
        for value in ("pierre@", "pierre example.org", "pierre@@example.org", "@example.org", ""):
            with self.subTest(value=value), self.assertRaises(ValidationError) as raised:
                normalize_personal_email(value)
            self.assertEqual(
                raised.exception.messages, [f"« {value} » n'est pas une adresse email valide."]
            )

    def test_it_refuses_a_local_part_with_accents_or_other_scripts(self):
        for value in ("jéan@example.org", "jéan@exämple.org", "пётр@example.org"):
            with self.subTest(value=value), self.assertRaises(ValidationError) as raised:
                normalize_personal_email(value)
            self.assertEqual(raised.exception.code, "non_ascii_local_part")
            self.assertIn(f"« {value} » n'est pas accepté", raised.exception.messages[0])

    def test_it_accepts_an_internationalized_domain(self):
        self.assertEqual(normalize_personal_email("jean@Exämple.org"), "jean@exämple.org")

    def test_it_does_not_ask_the_dns(self):
        # Saving a member must not wait on a resolver: the syntax is checked, not deliverability.
        with mock.patch("dns.resolver.Resolver.resolve") as resolve:
            self.assertEqual(
                normalize_personal_email("pierre@nexiste-pas.example.be"),
                "pierre@nexiste-pas.example.be",
            )
        resolve.assert_not_called()


class NameCharacterTests(SimpleTestCase):
    def test_it_refuses_control_and_format_characters_and_names_them(self):
        with self.assertRaises(ValidationError) as raised:
            validate_name_characters("Pi\u200berre\u202e \x1bDu\x7fpont\u200b\xad")
        self.assertEqual(raised.exception.code, "invisible_character")
        self.assertIn("(U+001B, U+007F, U+00AD, U+200B, U+202E)", raised.exception.messages[0])

    def test_it_accepts_letters_of_any_script_and_punctuation(self):
        for name in ("Zoë O'Brien-Lefèvre", "Łukasz Żuławski", "Σωκράτης", "李小龍", "Anne\tMarie"):
            with self.subTest(name=name):
                validate_name_characters(name)

    def test_it_removes_them_from_a_name_stored_before(self):
        self.assertEqual(without_invisible_characters("Pi\x01erre \u202eD\x1b\tx"), "Pierre D\tx")


class MaskedPhoneTests(SimpleTestCase):
    def test_it_shows_the_country_the_first_and_the_last_two_digits(self):
        member = Member(phone=PhoneNumber.from_string("+32470123456"))
        self.assertEqual(member.masked_phone, "+32 4•• •• •• 56")

    def test_it_masks_a_foreign_number_the_same_way(self):
        member = Member(phone=PhoneNumber.from_string("+33612345678"))
        self.assertEqual(member.masked_phone, "+33 6•• •• •• 78")

    def test_it_hides_the_middle_digits(self):
        masked = Member(phone=PhoneNumber.from_string("+32470123456")).masked_phone
        for digits in ("70", "12", "34", "123"):
            with self.subTest(digits=digits):
                self.assertNotIn(digits, masked)
