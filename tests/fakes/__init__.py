"""Local doubles of outside services, served on loopback addresses for the tests."""
